//! Copies the SQLite write-ahead log back into the database file, on a
//! thread of its own. SQLite would do it inside a COMMIT every 1,000 pages,
//! and a checkpoint ends with an fsync of the database file: on a real disk
//! that held up the writer, and every write queued behind it, for up to a
//! quarter of a second. A PASSIVE checkpoint here lets writes go on.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, OpenFlags};

use super::write::QueryError;

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
    let (wake, woken) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while woken.recv().is_ok() {
                // A failure leaves the log longer, not wrong: the next commit retries.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    eprintln!("warning: sqlite checkpoint: {e}");
                }
            }
        })
        .map_err(|source| QueryError::Spawn {
            thread: "sqlite-checkpoint",
            source,
        })?;
    Ok(Wake(wake))
}
