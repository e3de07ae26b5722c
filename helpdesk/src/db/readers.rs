//! Connections for the reads of a SQLite file.

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::pragmas::{SQLITE_PRAGMAS, set_pragmas};

/// Connections kept for the reads of a SQLite file, lent without the
/// pool's checks: the pool pings a SQLite connection on every return, a
/// round trip to the connection's thread that costs as much as the read
/// itself. A read on its own connection still sees every committed write
/// (WAL: each statement reads the latest commit).
pub(super) struct Readers {
    options: AnyConnectOptions,
    idle: std::sync::Mutex<Vec<AnyConnection>>,
    permits: Semaphore,
}

/// A reader connection, back to the idle ones when dropped.
pub(super) struct Reader<'a> {
    readers: &'a Readers,
    conn: Option<AnyConnection>,
    _permit: SemaphorePermit<'a>,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.readers.idle.lock()) {
            idle.push(conn);
        }
    }
}

impl Readers {
    /// Measured on two cores: 3 to 5 read alike, 2 queue, 6 and more switch threads.
    const CONNECTIONS: usize = 4;

    async fn connect(options: &AnyConnectOptions) -> Result<AnyConnection, sqlx::Error> {
        let mut conn = AnyConnection::connect_with(options).await?;
        set_pragmas(&mut conn, &SQLITE_PRAGMAS).await?;
        set_pragmas(&mut conn, &[("query_only", "ON")]).await?;
        Ok(conn)
    }

    pub(super) async fn open(options: AnyConnectOptions) -> Result<Self, sqlx::Error> {
        let mut idle = Vec::with_capacity(Self::CONNECTIONS);
        for _ in 0..Self::CONNECTIONS {
            idle.push(Self::connect(&options).await?);
        }
        Ok(Self {
            options,
            idle: std::sync::Mutex::new(idle),
            permits: Semaphore::new(Self::CONNECTIONS),
        })
    }

    /// An idle connection, or a new one in place of one dropped after a failure.
    pub(super) async fn acquire(&self) -> Result<Reader<'_>, sqlx::Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => Self::connect(&self.options).await?,
        };
        Ok(Reader {
            readers: self,
            conn: Some(conn),
            _permit: permit,
        })
    }
}

impl Reader<'_> {
    pub(super) fn conn(&mut self) -> Result<&mut AnyConnection, sqlx::Error> {
        self.conn.as_mut().ok_or(sqlx::Error::PoolClosed)
    }

    /// Drops the connection if the failure left it unusable.
    pub(super) fn check<T>(&mut self, result: &Result<T, sqlx::Error>) {
        if matches!(result, Err(sqlx::Error::WorkerCrashed | sqlx::Error::Io(_))) {
            self.conn = None;
        }
    }
}
