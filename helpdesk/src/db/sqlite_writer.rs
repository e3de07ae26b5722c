//! The writes to a SQLite file. SQLite takes one writer at a time, so one
//! thread owns the write connection: a request hands it a whole `WriteOp`
//! and waits once, where sqlx would hop to its connection thread for every
//! statement, BEGIN and COMMIT. Writes that queue while one commits are
//! committed together (group commit), each in a savepoint of its own, so a
//! failed write still leaves nothing behind.

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use rusqlite::types::{FromSql, ToSqlOutput};
use rusqlite::{Connection, OpenFlags, ToSql, TransactionBehavior};
use tokio::sync::oneshot;

use super::checkpointer;
use super::write::{Param, QueryError, WriteOp, WriteTx};

/// Writes committed together at most: bounds how long the first one waits.
const MAX_BATCH: usize = 64;

/// Parameter names, so binding does not depend on the order in which a
/// statement first uses each one.
const PARAM_NAMES: [&str; 8] = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8"];

pub struct SqliteWriter {
    jobs: mpsc::Sender<Box<dyn Job>>,
    thread: JoinHandle<()>,
}

impl SqliteWriter {
    /// Opens the existing database file and starts the writer thread.
    pub fn open(path: &Path, pragmas: &[(&str, &str)]) -> Result<Self, QueryError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        for (name, value) in pragmas {
            conn.pragma_update(None, name, value)?;
        }
        conn.pragma_update(None, "wal_autocheckpoint", "0")?;
        let checkpoint = checkpointer::start(path)?;
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(conn, queue, checkpoint))
            .map_err(|source| QueryError::Spawn {
                thread: "sqlite-writer",
                source,
            })?;
        Ok(Self { jobs, thread })
    }

    pub fn is_running(&self) -> bool {
        !self.thread.is_finished()
    }

    /// Runs `op` on the writer thread; answers once it is committed.
    pub async fn write<W: WriteOp>(&self, op: W) -> Result<W::Output, W::Error> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(Pending {
                op,
                result: None,
                reply,
            }))
            .map_err(|_| QueryError::WriterStopped)?;
        answer.await.map_err(|_| QueryError::WriterStopped)?
    }
}

fn serve(
    mut conn: Connection,
    queue: mpsc::Receiver<Box<dyn Job>>,
    checkpoint: checkpointer::Wake,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        batch.push(first);
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        if commit_batch(&mut conn, batch) {
            checkpoint.after_commit();
        }
    }
}

/// Runs each job in its own savepoint of one transaction, commits, then
/// answers every job: none hears "done" before its write is committed.
/// Returns whether the batch committed.
fn commit_batch(conn: &mut Connection, mut batch: Vec<Box<dyn Job>>) -> bool {
    let committed = (|| {
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for job in &mut batch {
            let savepoint = tx.savepoint()?;
            if job.run(&savepoint) {
                savepoint.commit()?;
            } else {
                // Rolls back to the savepoint, then releases it.
                savepoint.finish()?;
            }
        }
        tx.commit()
    })();
    let failure = committed.err().map(|e| e.to_string());
    for job in batch {
        job.answer(failure.as_deref());
    }
    failure.is_none()
}

trait Job: Send {
    /// Runs the write; whether it succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the outcome, or the batch's commit failure.
    fn answer(self: Box<Self>, commit_failure: Option<&str>);
}

struct Pending<W: WriteOp> {
    op: W,
    result: Option<Result<W::Output, W::Error>>,
    reply: oneshot::Sender<Result<W::Output, W::Error>>,
}

impl<W: WriteOp> Job for Pending<W> {
    fn run(&mut self, conn: &Connection) -> bool {
        let result = completed(self.op.run(&mut SqliteTx(conn))).unwrap_or_else(|| {
            Err(QueryError::Writer("a write did not complete on the writer thread").into())
        });
        let succeeded = result.is_ok();
        self.result = Some(result);
        succeeded
    }

    fn answer(self: Box<Self>, commit_failure: Option<&str>) {
        let outcome = match (self.result, commit_failure) {
            (Some(Err(e)), _) => Err(e),
            (_, Some(failure)) => Err(QueryError::Commit(failure.to_owned()).into()),
            (Some(Ok(output)), None) => Ok(output),
            (None, None) => Err(QueryError::Writer("the write did not run").into()),
        };
        // The requester may have gone; the write stands either way.
        let _ = self.reply.send(outcome);
    }
}

/// The output of a future that completes without waiting. `SqliteTx`'s
/// methods never wait (each statement runs right here, on this thread), so
/// a `WriteOp` over it completes on its first poll.
fn completed<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

struct SqliteTx<'c>(&'c Connection);

impl SqliteTx<'_> {
    fn prepare(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<rusqlite::CachedStatement<'_>, QueryError> {
        let mut statement = self.0.prepare_cached(sql)?;
        let expected = statement.parameter_count();
        if expected != params.len() || expected > PARAM_NAMES.len() {
            return Err(rusqlite::Error::InvalidParameterCount(params.len(), expected).into());
        }
        for (name, param) in PARAM_NAMES.iter().zip(params) {
            statement.raw_bind_parameter(*name, param)?;
        }
        Ok(statement)
    }

    fn first_column<T: FromSql>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<T>, QueryError> {
        let mut statement = self.prepare(sql, params)?;
        let mut rows = statement.raw_query();
        Ok(rows.next()?.map(|row| row.get(0)).transpose()?)
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Param::Int(value) => ToSqlOutput::from(value),
            Param::Text(value) => ToSqlOutput::from(value),
        })
    }
}

impl WriteTx for SqliteTx<'_> {
    async fn execute(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<u64, QueryError> {
        Ok(self.prepare(sql, params)?.raw_execute()? as u64)
    }

    async fn fetch_int(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<i64>, QueryError> {
        self.first_column(sql, params)
    }

    async fn fetch_text(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Option<String>, QueryError> {
        self.first_column(sql, params)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Inserts `value` into `t`, then fails if asked to.
    struct Insert {
        value: i64,
        then_fail: bool,
    }

    impl WriteOp for Insert {
        type Output = i64;
        type Error = QueryError;

        async fn run<T: WriteTx>(&self, tx: &mut T) -> Result<i64, QueryError> {
            let id = tx
                .fetch_int(
                    "INSERT INTO t (v) VALUES ($1) RETURNING id",
                    &[Param::Int(self.value)],
                )
                .await?
                .ok_or(QueryError::NoRow)?;
            if self.then_fail {
                return Err(QueryError::Commit("asked to fail".into()));
            }
            Ok(id)
        }
    }

    type Answer = oneshot::Receiver<Result<i64, QueryError>>;

    fn job(value: i64, then_fail: bool) -> (Box<dyn Job>, Answer) {
        let (reply, answer) = oneshot::channel();
        let op = Insert { value, then_fail };
        let job = Pending {
            op,
            result: None,
            reply,
        };
        (Box::new(job), answer)
    }

    fn database(dir: &tempfile::TempDir, schema: &str) -> Connection {
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn.execute_batch(schema).unwrap();
        conn
    }

    fn values(conn: &Connection) -> Vec<i64> {
        let mut statement = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        let rows = statement.query_map([], |row| row.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_its_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = database(&dir, "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)");
        let (first, first_answer) = job(1, false);
        let (failing, failing_answer) = job(2, true);
        let (last, last_answer) = job(3, false);

        assert!(commit_batch(&mut conn, vec![first, failing, last]));

        assert!(first_answer.blocking_recv().unwrap().is_ok());
        let failure = failing_answer.blocking_recv().unwrap().unwrap_err();
        assert_eq!(failure.to_string(), "commit failed: asked to fail");
        assert!(last_answer.blocking_recv().unwrap().is_ok());
        assert_eq!(values(&conn), [1, 3]);
    }

    #[test]
    fn a_failed_commit_fails_every_write_of_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        // The foreign key is checked at COMMIT, so the write itself succeeds.
        let mut conn = database(
            &dir,
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER
                REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
             INSERT INTO parent (id) VALUES (1);",
        );
        let (good, good_answer) = job(1, false);
        let (orphan, orphan_answer) = job(7, false);

        assert!(!commit_batch(&mut conn, vec![good, orphan]));

        for answer in [good_answer, orphan_answer] {
            let failure = answer.blocking_recv().unwrap().unwrap_err();
            assert!(failure.to_string().contains("FOREIGN KEY"), "{failure}");
        }
        assert!(values(&conn).is_empty());
        let (next, next_answer) = job(1, false);
        assert!(commit_batch(&mut conn, vec![next]));
        assert!(next_answer.blocking_recv().unwrap().is_ok());
        assert_eq!(values(&conn), [1]);
    }

    /// The writer never checkpoints: the database file grows only if the
    /// checkpoint thread copies the log into it, and the log is emptied
    /// only by the truncation once writes pause.
    #[tokio::test]
    async fn the_log_reaches_the_database_file_and_is_truncated_when_writes_pause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let log = dir.path().join("t.db-wal");
        drop(database(
            &dir,
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)",
        ));
        let empty = std::fs::metadata(&path).unwrap().len();
        let writer = SqliteWriter::open(&path, &[("journal_mode", "WAL")]).unwrap();
        for value in 0..5_000 {
            let op = Insert {
                value,
                then_fail: false,
            };
            writer.write(op).await.unwrap();
        }
        assert!(std::fs::metadata(&log).unwrap().len() > 0);

        let size = |file: &Path| std::fs::metadata(file).unwrap().len();
        let deadline = Instant::now() + Duration::from_secs(10);
        while (size(&path) <= empty * 4 || size(&log) > 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            size(&path) > empty * 4,
            "database file still {} bytes, was {empty}",
            size(&path)
        );
        assert_eq!(size(&log), 0, "the log was not truncated");
        assert!(writer.is_running());
    }
}
