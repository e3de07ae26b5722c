//! Writes, written once for both drivers: a `WriteOp` runs its statements
//! through `WriteTx`, which is a sqlx transaction on PostgreSQL (and on an
//! in-memory SQLite), and the SQLite writer thread's savepoint on a file.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row, Transaction};

/// A statement parameter. Statements number them `$1`, `$2`...: both
/// PostgreSQL and SQLite read that form.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

/// A failed statement, from either driver.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("statement returned no row")]
    NoRow,
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("cannot start thread {thread}: {source}")]
    Spawn {
        thread: &'static str,
        source: std::io::Error,
    },
    #[error("sqlite writer: {0}")]
    Writer(&'static str),
    #[error("the sqlite writer thread has stopped")]
    WriterStopped,
}

impl QueryError {
    pub fn is_unique_violation(&self) -> bool {
        match self {
            QueryError::Sqlx(sqlx::Error::Database(e)) => {
                e.message().to_lowercase().contains("unique")
            }
            QueryError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            }
            _ => false,
        }
    }
}

/// What a write needs from the transaction it runs in.
pub trait WriteTx {
    /// Runs a statement; the number of rows it changed.
    async fn execute(&mut self, sql: &'static str, params: &[Param<'_>])
    -> Result<u64, QueryError>;

    /// The first column of the first row, as an integer (`RETURNING id`).
    async fn fetch_int(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<i64>, QueryError>;

    /// The first column of the first row, as text.
    async fn fetch_text(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<String>, QueryError>;
}

/// One write: all of its statements land, or none do.
pub trait WriteOp: Send + 'static {
    type Output: Send + 'static;
    type Error: From<QueryError> + Send + 'static;

    async fn run<T: WriteTx>(&self, tx: &mut T) -> Result<Self::Output, Self::Error>;
}

fn bind<'q>(sql: &'static str, params: &[Param<'q>]) -> Query<'q, Any, AnyArguments> {
    params
        .iter()
        .fold(sqlx::query(sql), |query, param| match *param {
            Param::Int(value) => query.bind(value),
            Param::Text(value) => query.bind(value),
        })
}

impl WriteTx for Transaction<'_, Any> {
    async fn execute(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64, QueryError> {
        Ok(bind(sql, params)
            .execute(&mut **self)
            .await?
            .rows_affected())
    }

    async fn fetch_int(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<i64>, QueryError> {
        let row = bind(sql, params).fetch_optional(&mut **self).await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    async fn fetch_text(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<String>, QueryError> {
        let row = bind(sql, params).fetch_optional(&mut **self).await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }
}
