//! The read → decide → commit loop every ledger transition goes through:
//! decisions are always made on the snapshot the commit is based on, so no
//! lock files are needed.

use std::time::Duration;

use super::error::GitError;
use super::random::random_u64;
use super::store::{Change, CommitResult, LedgerStore, Snapshot};

/// Enough for dozens of writers racing on one environment; past it something
/// is wrong (a writer loop), and the caller should hear about it.
const MAX_ATTEMPTS: u32 = 50;

/// What `decide` wants done with a snapshot. A decision that fails or
/// refuses carries that in `T` (e.g. `Done(Err(refusal))`).
pub enum Decision<T> {
    /// Nothing to write.
    Done(T),
    Write {
        changes: Vec<Change>,
        message: String,
        value: T,
    },
}

#[derive(Debug)]
pub struct TransactOutcome<T> {
    pub value: T,
    /// The ledger head `value` was decided at: the new commit when one was
    /// written, else the snapshot's head.
    pub head: Option<String>,
    pub wrote: bool,
    /// How many snapshots were read, 1 when nobody raced us.
    pub attempts: u32,
}

impl LedgerStore {
    /// Reads the environment, lets `decide` choose, and writes its changes
    /// on top of exactly that snapshot; when the branch moved meanwhile it
    /// re-reads and asks `decide` again.
    pub fn transact<T>(
        &mut self,
        service: &str,
        env: &str,
        mut decide: impl FnMut(&Snapshot) -> Decision<T>,
    ) -> Result<TransactOutcome<T>, GitError> {
        // The first decision is made on the head this store already knows
        // (most often its own last write), saving a fetch per transition: a
        // write decided on a stale head is refused by the push and decided
        // again on a fresh one, and a decision to write nothing is always
        // confirmed on a fresh one.
        let mut fresh = false;
        for attempt in 1..=MAX_ATTEMPTS {
            let snapshot = match (fresh, attempt) {
                (false, 1) => match self.read_cached(service, env)? {
                    Some(cached) => cached,
                    None => {
                        fresh = true;
                        self.read(service, env)?
                    }
                },
                _ => {
                    fresh = true;
                    self.read(service, env)?
                }
            };
            let (changes, message, value) = match decide(&snapshot) {
                Decision::Done(_) if !fresh => continue,
                Decision::Done(value) => {
                    return Ok(TransactOutcome {
                        value,
                        head: snapshot.head,
                        wrote: false,
                        attempts: attempt,
                    });
                }
                Decision::Write {
                    changes,
                    message,
                    value,
                } => (changes, message, value),
            };
            match self.commit(&snapshot, &changes, &message)? {
                CommitResult::Landed { head } => {
                    return Ok(TransactOutcome {
                        value,
                        head: Some(head),
                        wrote: true,
                        attempts: attempt,
                    });
                }
                // A cached head was simply old news: fetch at once.
                CommitResult::Moved if !fresh => {}
                CommitResult::Moved => std::thread::sleep(backoff(attempt)),
            }
        }
        Err(GitError::Contended {
            repository: self.location.repository.clone(),
            branch: self.location.branch.clone(),
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// Random in [0, min(2^attempt, 200)] ms, so writers that lost together do
/// not collide again in lockstep.
fn backoff(attempt: u32) -> Duration {
    let ceiling = 1u64 << attempt.min(8);
    let ceiling = ceiling.min(200);
    Duration::from_millis(random_u64() % (ceiling + 1))
}
