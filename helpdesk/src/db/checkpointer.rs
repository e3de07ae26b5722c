//! Copies the SQLite write-ahead log back into the database file, on a
//! thread of its own. SQLite would do it inside a COMMIT every 1,000 pages,
//! and a checkpoint ends with an fsync of the database file: on a real disk
//! that held up the writer, and every write queued behind it, for up to a
//! quarter of a second. A PASSIVE checkpoint here lets writes go on.
//!
//! Under steady writes a passive checkpoint never quite catches up, so the
//! log is not restarted and grows. It is truncated once writes pause, or
//! when it passes `MAX_LOG_FRAMES`: truncating makes writers wait, which is
//! also why SQLite's own `journal_size_limit` (applied inside a COMMIT)
//! is not used.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::write::QueryError;

/// About 1 GiB of 4 KiB pages: past this, writers wait for one truncation.
const MAX_LOG_FRAMES: i64 = 1 << 18;
/// How long writes must pause before the log is truncated.
const IDLE: Duration = Duration::from_secs(1);
/// How long a truncation waits for the writer and readers before it gives
/// up until the next pause.
const TRUNCATE_WAIT: Duration = Duration::from_millis(100);

/// Wakes the checkpointer; many wakes before it runs make one checkpoint.
pub struct Wake(mpsc::SyncSender<()>);

impl Wake {
    pub fn after_commit(&self) {
        // Full: a checkpoint is already due, and will include this commit.
        let _ = self.0.try_send(());
    }
}

/// Starts the checkpointer of the database at `path`; it stops once every
/// `Wake` is dropped.
pub fn start(path: &Path) -> Result<Wake, QueryError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(TRUNCATE_WAIT)?;
    let (wake, woken) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || run(&conn, &woken))
        .map_err(|source| QueryError::Spawn {
            thread: "sqlite-checkpoint",
            source,
        })?;
    Ok(Wake(wake))
}

fn run(conn: &Connection, woken: &mpsc::Receiver<()>) {
    let mut log_to_truncate = false;
    loop {
        match woken.recv_timeout(IDLE) {
            Ok(()) => {
                log_to_truncate = true;
                if checkpoint(conn, "PASSIVE").is_some_and(|log| log.frames > MAX_LOG_FRAMES) {
                    log_to_truncate = !checkpoint(conn, "TRUNCATE").is_some_and(|log| log.done);
                }
            }
            Err(RecvTimeoutError::Timeout) if log_to_truncate => {
                log_to_truncate = !checkpoint(conn, "TRUNCATE").is_some_and(|log| log.done);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

struct Log {
    /// Whether the checkpoint ran to the end (it did not give up on a lock).
    done: bool,
    frames: i64,
}

fn checkpoint(conn: &Connection, mode: &str) -> Option<Log> {
    // The mode is one of this module's two constants.
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    let answer = conn.query_row(&sql, [], |row| {
        Ok(Log {
            done: row.get::<_, i64>(0)? == 0,
            frames: row.get(1)?,
        })
    });
    match answer {
        Ok(log) => Some(log),
        Err(e) => {
            // The log is only longer for it; the next commit retries.
            eprintln!("warning: sqlite checkpoint ({mode}): {e}");
            None
        }
    }
}
