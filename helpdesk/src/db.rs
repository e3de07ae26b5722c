//! The database: SQLite by default (a file, or memory for tests),
//! PostgreSQL when `DATABASE_URL` says so. Migrations are numbered; a
//! server never runs against a schema newer than it knows.

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

/// Tables, in order. `{id}` is the auto-increment key of each backend.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE customers (id {id}, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
     CREATE TABLE tickets (id {id}, subject TEXT NOT NULL, customer_id BIGINT NOT NULL REFERENCES customers(id),
        channel TEXT NOT NULL, status TEXT NOT NULL, assignee TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
     CREATE INDEX tickets_by_status ON tickets (status, id);
     CREATE INDEX tickets_by_customer ON tickets (customer_id, id);
     CREATE TABLE messages (id {id}, ticket_id BIGINT NOT NULL REFERENCES tickets(id), author TEXT NOT NULL,
        body TEXT NOT NULL, created_at TEXT NOT NULL);
     CREATE INDEX messages_by_ticket ON messages (ticket_id, id);
     CREATE TABLE ticket_tags (ticket_id BIGINT NOT NULL REFERENCES tickets(id), tag TEXT NOT NULL, PRIMARY KEY (ticket_id, tag));",
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error(
        "database schema is version {found}, newer than this helpdesk knows ({known}): upgrade helpdesk"
    )]
    TooNew { found: i64, known: i64 },
    #[error(
        "database schema is version {found}, this helpdesk needs {known}: run `helpdesk migrate`"
    )]
    TooOld { found: i64, known: i64 },
    #[error("migration {version}: {source}")]
    Migration { version: i64, source: sqlx::Error },
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// `DATABASE_URL` with its password hidden, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}:*****{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Db {
    pub async fn open(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let open = |source| DbError::Open {
            url: redact(url),
            source,
        };
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = AnyConnectOptions::from_str(url).map_err(open)?;
        // An in-memory SQLite database lives in one connection.
        let connections = if memory {
            1
        } else if backend == Backend::Sqlite {
            4
        } else {
            10
        };
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await
            .map_err(open)?;
        if backend == Backend::Sqlite {
            for pragma in [
                "PRAGMA journal_mode = WAL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA busy_timeout = 5000",
                "PRAGMA synchronous = NORMAL",
            ] {
                sqlx::query(pragma).execute(&pool).await.map_err(open)?;
            }
        }
        Ok(Self { pool, backend })
    }

    pub async fn version(&self) -> Result<i64, DbError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("v")?)
    }

    /// Applies the migrations the database lacks; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>, DbError> {
        let found = self.version().await?;
        if found > SCHEMA_VERSION {
            return Err(DbError::TooNew {
                found,
                known: SCHEMA_VERSION,
            });
        }
        let id = match self.backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Backend::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        let mut applied = Vec::new();
        for (i, migration) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(found).unwrap_or(0))
        {
            let version = i as i64 + 1;
            let fail = |source| DbError::Migration { version, source };
            let mut tx = self.pool.begin().await.map_err(fail)?;
            let ddl = migration.replace("{id}", id);
            for statement in ddl.split(';').filter(|s| !s.trim().is_empty()) {
                // The migrations are this file's constants, not input.
                sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
            }
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
            applied.push(version);
        }
        Ok(applied)
    }

    /// Refuses a schema this server does not match.
    pub async fn check_schema(&self) -> Result<(), DbError> {
        let found = self.version().await?;
        match found.cmp(&SCHEMA_VERSION) {
            std::cmp::Ordering::Greater => Err(DbError::TooNew {
                found,
                known: SCHEMA_VERSION,
            }),
            std::cmp::Ordering::Less => Err(DbError::TooOld {
                found,
                known: SCHEMA_VERSION,
            }),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
