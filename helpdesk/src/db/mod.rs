//! The database: SQLite by default (a file, or memory for tests),
//! PostgreSQL when `DATABASE_URL` says so. Migrations are numbered; a
//! server never runs against a schema newer than it knows.

mod checkpointer;
mod pragmas;
mod readers;
mod sqlite_writer;
mod write;

use std::str::FromStr;
use std::sync::Arc;

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Row, Transaction};

use pragmas::{SQLITE_PRAGMAS, set_pragmas};
use readers::Readers;
use sqlite_writer::SqliteWriter;
pub use write::{Param, QueryError, WriteOp, WriteTx};

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
    #[error("cannot open the writer of {url}: {source}")]
    Writer { url: String, source: QueryError },
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
    /// Migrations; writes where there is no `writer`, reads where there are
    /// no `readers`.
    pool: AnyPool,
    pub backend: Backend,
    readers: Option<Arc<Readers>>,
    writer: Option<Arc<SqliteWriter>>,
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
        let sqlite = backend == Backend::Sqlite;
        // An in-memory SQLite database lives in one connection. A file's
        // pool only migrates and answers pings: its writer thread writes.
        let connections = if sqlite { 1 } else { 10 };
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            // A SQLite connection is a thread of this process: nothing to
            // test before lending it, and the test is a round trip.
            .test_before_acquire(!sqlite)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        set_pragmas(conn, &SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(open)?;
        if !sqlite || memory {
            return Ok(Self {
                pool,
                backend,
                readers: None,
                writer: None,
            });
        }
        // The pool has created the file, if it had to.
        let path = SqliteConnectOptions::from_str(url).map_err(open)?;
        let writer =
            SqliteWriter::open(path.get_filename(), &SQLITE_PRAGMAS).map_err(|source| {
                DbError::Writer {
                    url: redact(url),
                    source,
                }
            })?;
        Ok(Self {
            pool,
            backend,
            readers: Some(Arc::new(Readers::open(options).await.map_err(open)?)),
            writer: Some(Arc::new(writer)),
        })
    }

    /// A transaction that writes. On SQLite it takes the write lock at
    /// BEGIN: a deferred transaction that reads first cannot take it once
    /// another write has committed, and fails at once (SQLITE_BUSY) instead
    /// of waiting its turn.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Runs `op` in a transaction of its own (or a savepoint of the SQLite
    /// writer's); it is committed when this returns `Ok`.
    pub(crate) async fn write<W: WriteOp>(&self, op: W) -> Result<W::Output, W::Error> {
        if let Some(writer) = &self.writer {
            return writer.write(op).await;
        }
        let mut tx = self.begin_write().await.map_err(QueryError::from)?;
        let output = op.run(&mut tx).await?;
        tx.commit().await.map_err(QueryError::from)?;
        Ok(output)
    }

    /// Runs a read, on a reader connection where there are some.
    pub(crate) async fn fetch_optional<'q>(
        &self,
        query: Query<'q, Any, AnyArguments>,
    ) -> Result<Option<AnyRow>, sqlx::Error> {
        match &self.readers {
            Some(readers) => {
                let mut reader = readers.acquire().await?;
                let result = query.fetch_optional(reader.conn()?).await;
                reader.check(&result);
                result
            }
            None => query.fetch_optional(&self.pool).await,
        }
    }

    /// Runs a read of many rows, on a reader connection where there are some.
    pub(crate) async fn fetch_all<'q>(
        &self,
        query: Query<'q, Any, AnyArguments>,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        match &self.readers {
            Some(readers) => {
                let mut reader = readers.acquire().await?;
                let result = query.fetch_all(reader.conn()?).await;
                reader.check(&result);
                result
            }
            None => query.fetch_all(&self.pool).await,
        }
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
            let mut tx = self.begin_write().await.map_err(fail)?;
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
        self.writer.as_ref().is_none_or(|w| w.is_running())
            && sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
