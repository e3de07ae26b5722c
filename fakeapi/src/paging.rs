//! Paged lists (`limit` and `continue`). The real API server reads every
//! page at the resourceVersion of the first, so a paged list is one
//! consistent snapshot; here the first page keeps the matching objects
//! (shared, not copied) and later pages slice them. Snapshots not used for
//! a while are forgotten, and their tokens answer 410 Expired, as tokens
//! past etcd's compaction do.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::Value;

use crate::error::ApiError;

/// Paged lists in progress at once; the oldest is forgotten first.
const KEPT: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    next_id: u64,
    kept: VecDeque<(u64, Snapshot)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub rv: u64,
    pub items: Arc<[Arc<Value>]>,
}

/// One page of a list and what the client needs to ask for the next.
pub(crate) struct Page {
    pub rv: u64,
    pub items: Vec<Arc<Value>>,
    pub continue_token: Option<String>,
    pub remaining: usize,
}

impl Snapshots {
    /// The page of `snapshot` starting at `offset`; remembers the snapshot
    /// when more pages follow.
    pub fn page(
        &mut self,
        snapshot: Snapshot,
        id: Option<u64>,
        offset: usize,
        limit: usize,
    ) -> Page {
        let end = offset.saturating_add(limit).min(snapshot.items.len());
        let items = snapshot.items.get(offset..end).unwrap_or_default().to_vec();
        let remaining = snapshot.items.len() - end;
        let rv = snapshot.rv;
        let continue_token = (remaining > 0).then(|| {
            let id = id.unwrap_or_else(|| self.keep(snapshot));
            format!("{id}-{end}")
        });
        Page {
            rv,
            items,
            continue_token,
            remaining,
        }
    }

    fn keep(&mut self, snapshot: Snapshot) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.kept.len() == KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back((id, snapshot));
        id
    }

    /// The snapshot and offset a `continue` token points at.
    pub fn resume(&self, token: &str) -> Result<(u64, Snapshot, usize), ApiError> {
        let parsed = token.split_once('-').and_then(|(id, offset)| {
            Some((id.parse::<u64>().ok()?, offset.parse::<usize>().ok()?))
        });
        let Some((id, offset)) = parsed else {
            return Err(ApiError::bad_request(format!(
                "continue key is not valid: {token:?}"
            )));
        };
        self.kept
            .iter()
            .find(|(kept, _)| *kept == id)
            .map(|(_, snapshot)| (id, snapshot.clone(), offset))
            .ok_or_else(|| {
                ApiError::expired(
                    "the provided continue parameter is too old to display a consistent list \
                     result. You can start a new list without the continue parameter.",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(n: usize) -> Snapshot {
        Snapshot {
            rv: 7,
            items: (0..n).map(|i| Arc::new(Value::from(i))).collect(),
        }
    }

    #[test]
    fn pages_walk_one_snapshot_and_the_last_has_no_token() {
        let mut snapshots = Snapshots::default();
        let first = snapshots.page(snapshot(5), None, 0, 2);
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.remaining, 3);
        let token = first.continue_token.unwrap();
        let (id, kept, offset) = snapshots.resume(&token).unwrap();
        let second = snapshots.page(kept, Some(id), offset, 2);
        assert_eq!(*second.items[0], Value::from(2));
        let (id, kept, offset) = snapshots.resume(&second.continue_token.unwrap()).unwrap();
        let last = snapshots.page(kept, Some(id), offset, 2);
        assert_eq!(last.items.len(), 1);
        assert_eq!(last.continue_token, None);
        assert_eq!(last.rv, 7);
    }

    #[test]
    fn a_forgotten_snapshot_is_expired_and_garbage_is_a_bad_request() {
        let mut snapshots = Snapshots::default();
        let token = snapshots
            .page(snapshot(3), None, 0, 1)
            .continue_token
            .unwrap();
        for _ in 0..KEPT {
            snapshots.page(snapshot(3), None, 0, 1);
        }
        assert_eq!(snapshots.resume(&token).unwrap_err().code, 410);
        assert_eq!(snapshots.resume("nonsense").unwrap_err().code, 400);
        assert!(snapshots.page(snapshot(3), None, 9, 1).items.is_empty());
    }
}
