//! The deploy ledger against real Git: bare repositories in temp dirs, the
//! real `git` command line for fetch and push, and a real source history.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use conductor::gitops::ledger::{self, cluster_path, environment_path};
use conductor::gitops::ordering::{self, Intent, Refusal, Relation, Verdict};
use conductor::gitops::{
    Applied, Change, ClusterRecord, ClusterState, CommitResult, Decision, EnvironmentRecord,
    GitError, LedgerLocation, LedgerStore, Record, Snapshot, SourceRepo,
};
use git2::{Oid, Repository, Signature, Time};
use tempfile::TempDir;

const SHA_A: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const SHA_B: &str = "3f2a9c1d5e6f708192a3b4c5d6e7f8091a2b3c4d";

fn bare() -> (TempDir, LedgerLocation) {
    let dir = TempDir::new().unwrap();
    Repository::init_bare(dir.path()).unwrap();
    let location = LedgerLocation::new(dir.path().to_str().unwrap());
    (dir, location)
}

fn cluster(revision: &str, state: ClusterState, generation: u64) -> ClusterRecord {
    ClusterRecord {
        revision: revision.to_owned(),
        label: ledger::short(revision).to_owned(),
        state,
        previous_revision: None,
        previous_label: None,
        generation,
        applied: Applied::default(),
        updated_at: "2026-11-30T08:00:00Z".to_owned(),
        by: "test".to_owned(),
        message: None,
        rollback: false,
    }
}

fn environment(revision: &str, generation: u64) -> EnvironmentRecord {
    EnvironmentRecord {
        revision: revision.to_owned(),
        label: ledger::short(revision).to_owned(),
        generation,
        updated_at: "2026-11-30T08:00:00Z".to_owned(),
        by: "test".to_owned(),
        rollback: false,
    }
}

fn put_cluster(name: &str, record: &ClusterRecord) -> Change {
    Change::Put {
        path: cluster_path("shop", "production", name),
        text: ledger::to_yaml(record).unwrap(),
    }
}

fn put_environment(record: &EnvironmentRecord) -> Change {
    Change::Put {
        path: environment_path("shop", "production"),
        text: ledger::to_yaml(record).unwrap(),
    }
}

fn landed(result: CommitResult) -> String {
    match result {
        CommitResult::Landed { head } => head,
        CommitResult::Moved => panic!("expected the commit to land"),
    }
}

#[test]
fn a_branchless_ledger_reads_as_empty() {
    let (_dir, location) = bare();
    let mut store = LedgerStore::open(&location).unwrap();
    assert_eq!(
        store.read("shop", "production").unwrap(),
        Snapshot::default()
    );
    assert!(
        store
            .history("shop", "production", None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn opening_a_missing_repository_says_what_git_said() {
    let dir = TempDir::new().unwrap();
    let location = LedgerLocation::new(dir.path().join("nope").to_str().unwrap());
    let err = LedgerStore::open(&location).err().expect("open must fail");
    assert!(matches!(err, GitError::Command { .. }), "{err:?}");
    assert!(err.to_string().contains("git fetch failed"), "{err}");
}

#[test]
fn two_writes_in_a_row_chain_and_read_back() {
    let (dir, location) = bare();
    let mut store = LedgerStore::open(&location).unwrap();
    let empty = store.read("shop", "production").unwrap();
    let env = environment(SHA_A, 1);
    let first = cluster(SHA_A, ClusterState::Deploying, 1);
    let message = ledger::message("shop", "production", None, "intend 1a2b3c4");

    let started = Instant::now();
    let head1 = landed(
        store
            .commit(
                &empty,
                &[put_environment(&env), put_cluster("eu-west-1", &first)],
                &message,
            )
            .unwrap(),
    );
    let root_write = started.elapsed();

    let snapshot = store.read("shop", "production").unwrap();
    assert_eq!(snapshot.head.as_deref(), Some(head1.as_str()));
    assert_eq!(snapshot.environment, Some(env));
    assert_eq!(snapshot.clusters.get("eu-west-1"), Some(&first));

    let healthy = cluster(SHA_A, ClusterState::Healthy, 1);
    let started = Instant::now();
    let head2 = landed(
        store
            .commit(&snapshot, &[put_cluster("eu-west-1", &healthy)], "healthy")
            .unwrap(),
    );
    eprintln!(
        "ledger write (commit + push, local bare): first {root_write:?}, second {:?}",
        started.elapsed()
    );

    // The remote branch is exactly head1 → head2.
    let remote = Repository::open_bare(dir.path()).unwrap();
    let tip = remote
        .find_reference("refs/heads/conductor/ledger")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(tip.id().to_string(), head2);
    assert_eq!(tip.parent_id(0).unwrap().to_string(), head1);
    assert_eq!(tip.author().email(), Some("conductor@localhost"));

    let again = store.read("shop", "production").unwrap();
    assert_eq!(again.clusters.get("eu-west-1"), Some(&healthy));
    assert!(again.environment.is_some(), "untouched files are kept");
}

#[test]
fn a_bad_file_is_named_with_its_line_and_field() {
    let (_dir, location) = bare();
    let mut store = LedgerStore::open(&location).unwrap();
    let text = ledger::to_yaml(&cluster(SHA_A, ClusterState::Healthy, 1))
        .unwrap()
        .replace("Healthy", "Helthy");
    let line = text.lines().position(|l| l.starts_with("state:")).unwrap() + 1;
    let change = Change::Put {
        path: cluster_path("shop", "production", "eu-west-1"),
        text,
    };
    landed(
        store
            .commit(&Snapshot::default(), &[change], "bad")
            .unwrap(),
    );
    let err = store.read("shop", "production").unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "shop/production/eu-west-1.yaml:{line}: state: unknown variant `Helthy`"
        )),
        "{err}"
    );
}

#[test]
fn of_two_racing_writers_one_lands_and_transact_keeps_both() {
    let (_dir, location) = bare();
    let mut seed = LedgerStore::open(&location).unwrap();
    let empty = seed.read("shop", "production").unwrap();
    landed(
        seed.commit(&empty, &[put_environment(&environment(SHA_A, 1))], "seed")
            .unwrap(),
    );

    let mut alice = LedgerStore::open(&location).unwrap();
    let mut bob = LedgerStore::open(&location).unwrap();
    let base_a = alice.read("shop", "production").unwrap();
    let base_b = bob.read("shop", "production").unwrap();
    assert_eq!(base_a.head, base_b.head);

    let a = cluster(SHA_A, ClusterState::Healthy, 1);
    let b = cluster(SHA_A, ClusterState::Failed, 1);
    landed(
        alice
            .commit(&base_a, &[put_cluster("eu-west-1", &a)], "alice")
            .unwrap(),
    );
    assert_eq!(
        bob.commit(&base_b, &[put_cluster("us-east-1", &b)], "bob")
            .unwrap(),
        CommitResult::Moved
    );

    let mut seen_heads = Vec::new();
    let outcome = bob
        .transact("shop", "production", |snapshot| {
            seen_heads.push(snapshot.head.clone());
            Decision::Write {
                changes: vec![put_cluster("us-east-1", &b)],
                message: "bob again".to_owned(),
                value: snapshot.clusters.len(),
            }
        })
        .unwrap();
    assert!(outcome.wrote);
    assert_eq!(
        outcome.value, 1,
        "bob decided on a snapshot with alice's cluster"
    );
    // The first decision may be made on the head bob knew; the one that
    // landed was made on the moved branch.
    assert_ne!(
        seen_heads.last().cloned().flatten(),
        base_b.head,
        "transact re-read the moved branch"
    );

    let end = seed.read("shop", "production").unwrap();
    assert_eq!(end.clusters.get("eu-west-1"), Some(&a));
    assert_eq!(end.clusters.get("us-east-1"), Some(&b));
    assert_eq!(end.head, outcome.head);
}

#[test]
fn two_writers_creating_the_branch_do_not_both_land() {
    let (_dir, location) = bare();
    let mut alice = LedgerStore::open(&location).unwrap();
    let mut bob = LedgerStore::open(&location).unwrap();
    let empty_a = alice.read("shop", "production").unwrap();
    let empty_b = bob.read("shop", "production").unwrap();
    landed(
        alice
            .commit(&empty_a, &[put_environment(&environment(SHA_A, 1))], "a")
            .unwrap(),
    );
    let result = bob
        .commit(&empty_b, &[put_environment(&environment(SHA_B, 1))], "b")
        .unwrap();
    assert_eq!(result, CommitResult::Moved);
    let end = bob.read("shop", "production").unwrap();
    assert_eq!(end.environment.map(|e| e.revision).as_deref(), Some(SHA_A));
}

#[test]
fn twenty_threads_incrementing_lose_nothing() {
    let (_dir, location) = bare();
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let location = location.clone();
            std::thread::spawn(move || {
                let mut store = LedgerStore::open(&location).unwrap();
                let outcome = store
                    .transact("shop", "production", |snapshot| {
                        let generation = snapshot.environment.as_ref().map_or(0, |e| e.generation);
                        let next = environment(SHA_A, generation + 1);
                        Decision::Write {
                            changes: vec![put_environment(&next)],
                            message: format!("generation {}", generation + 1),
                            value: generation + 1,
                        }
                    })
                    .unwrap();
                (outcome.head, outcome.attempts)
            })
        })
        .collect();
    let landed: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let attempts: Vec<u32> = landed.iter().map(|(_, attempts)| *attempts).collect();
    eprintln!("20 racing transacts took {attempts:?} attempts");
    let heads: std::collections::BTreeSet<_> = landed.iter().map(|(head, _)| head).collect();
    assert_eq!(heads.len(), 20, "every writer landed its own commit");

    let mut store = LedgerStore::open(&location).unwrap();
    let end = store.read("shop", "production").unwrap();
    assert_eq!(end.environment.map(|e| e.generation), Some(20));
    assert_eq!(store.history("shop", "production", None).unwrap().len(), 20);
}

#[test]
fn transact_writes_nothing_when_decide_says_done() {
    let (dir, location) = bare();
    let mut store = LedgerStore::open(&location).unwrap();
    let outcome = store
        .transact("shop", "production", |_| Decision::<&str>::Done("refused"))
        .unwrap();
    assert_eq!(outcome.value, "refused");
    assert!(!outcome.wrote);
    let remote = Repository::open_bare(dir.path()).unwrap();
    assert!(
        remote
            .find_reference("refs/heads/conductor/ledger")
            .is_err()
    );
}

#[test]
fn history_lists_a_clusters_transitions_in_order() {
    let (_dir, location) = bare();
    let mut store = LedgerStore::open(&location).unwrap();
    let steps = [
        ("eu-west-1", ClusterState::Deploying),
        ("us-east-1", ClusterState::Deploying),
        ("eu-west-1", ClusterState::Failed),
        ("eu-west-1", ClusterState::RolledBack),
    ];
    for (name, state) in steps {
        store
            .transact("shop", "production", |_| Decision::Write {
                changes: vec![put_cluster(name, &cluster(SHA_B, state, 1))],
                message: ledger::message("shop", "production", Some(name), &state.to_string()),
                value: (),
            })
            .unwrap();
    }
    // Another environment's files are not part of this history, even when
    // its name starts with this one's.
    store
        .transact("shop", "production-eu", |_| Decision::Write {
            changes: vec![Change::Put {
                path: cluster_path("shop", "production-eu", "eu-west-1"),
                text: ledger::to_yaml(&cluster(SHA_B, ClusterState::Healthy, 1)).unwrap(),
            }],
            message: "staging".to_owned(),
            value: (),
        })
        .unwrap();

    let history = store
        .history("shop", "production", Some("eu-west-1"))
        .unwrap();
    let states: Vec<_> = history
        .iter()
        .map(|entry| match &entry.changes[..] {
            [change] => match &change.record {
                Some(Record::Cluster(record)) => record.state,
                other => panic!("unexpected record {other:?}"),
            },
            other => panic!("one change per commit, got {other:?}"),
        })
        .collect();
    assert_eq!(
        states,
        [
            ClusterState::Deploying,
            ClusterState::Failed,
            ClusterState::RolledBack
        ]
    );
    assert_eq!(history[1].subject, "shop/production/eu-west-1: Failed");
    assert_eq!(store.history("shop", "production", None).unwrap().len(), 4);
}

#[test]
fn a_hook_refusal_is_an_error_not_a_move() {
    let (dir, location) = bare();
    let hook = dir.path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'ledger is frozen' >&2\nexit 1\n").unwrap();
    make_executable(&hook);
    let mut store = LedgerStore::open(&location).unwrap();
    let err = store
        .commit(
            &Snapshot::default(),
            &[put_environment(&environment(SHA_A, 1))],
            "x",
        )
        .unwrap_err();
    assert!(err.to_string().contains("ledger is frozen"), "{err}");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A source history: c1 ← c2 ← c3 on main (tagged v1, v3), a side branch
/// s1 off c2, and an orphan root.
struct Source {
    dir: TempDir,
    c1: String,
    c2: String,
    c3: String,
    side: String,
    orphan: String,
}

fn source() -> Source {
    let dir = TempDir::new().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let mut clock = 1_700_000_000;
    let mut commit = |update_ref: Option<&str>, subject: &str, parents: &[Oid]| {
        clock += 60;
        let sig = Signature::new("Ada", "ada@example.com", &Time::new(clock, 0)).unwrap();
        let tree = repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let parents: Vec<_> = parents
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let parents: Vec<_> = parents.iter().collect();
        repo.commit(update_ref, &sig, &sig, subject, &tree, &parents)
            .unwrap()
    };
    let c1 = commit(Some("HEAD"), "first", &[]);
    let c2 = commit(Some("HEAD"), "second", &[c1]);
    let side = commit(Some("refs/heads/side"), "side work", &[c2]);
    let c3 = commit(Some("HEAD"), "third\n\nwith a body", &[c2]);
    let orphan = commit(Some("refs/heads/orphan"), "another history", &[]);
    for (name, id) in [("v1", c1), ("v3", c3)] {
        let object = repo.find_object(id, None).unwrap();
        let sig = Signature::new("Ada", "ada@example.com", &Time::new(clock, 0)).unwrap();
        repo.tag(name, &object, &sig, name, false).unwrap();
    }
    std::fs::create_dir(dir.path().join("charts")).unwrap();
    Source {
        dir,
        c1: c1.to_string(),
        c2: c2.to_string(),
        c3: c3.to_string(),
        side: side.to_string(),
        orphan: orphan.to_string(),
    }
}

#[test]
fn resolve_understands_revspecs_and_discovers_upward() {
    let src = source();
    let repo = SourceRepo::discover(&src.dir.path().join("charts")).unwrap();
    assert_eq!(repo.resolve("HEAD").unwrap().sha, src.c3);
    assert_eq!(
        repo.resolve("v1").unwrap().sha,
        src.c1,
        "annotated tag peeled"
    );
    assert_eq!(repo.resolve("side").unwrap().sha, src.side);
    assert_eq!(repo.resolve("HEAD~1").unwrap().sha, src.c2);
    let head = repo.resolve(&src.c3[..10]).unwrap();
    assert_eq!(head.short, src.c3[..7]);
    assert_eq!(head.subject, "third");
    assert_eq!(head.author, "Ada");
    let err = repo.resolve("v9").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("revision `v9` is not in the source repository"),
        "{err}"
    );
}

#[test]
fn relations_on_a_real_history() {
    let src = source();
    let repo = SourceRepo::discover(src.dir.path()).unwrap();
    let cases = [
        (&src.c3, &src.c3, Relation::Same),
        (&src.c3, &src.c1, Relation::Descendant),
        (&src.c1, &src.c3, Relation::Ancestor),
        (&src.side, &src.c3, Relation::Unrelated),
        (&src.orphan, &src.c3, Relation::Unrelated),
        (&src.side, &src.c1, Relation::Descendant),
    ];
    for (requested, intended, expected) in cases {
        assert_eq!(repo.relation(requested, intended).unwrap(), expected);
    }
}

#[test]
fn ordering_on_a_real_history() {
    let src = source();
    let repo = SourceRepo::discover(src.dir.path()).unwrap();
    let intended = environment(&src.c3, 5);
    let decide = |requested: &str, intent| {
        let relation = repo.relation(requested, &intended.revision).unwrap();
        ordering::verdict(Some(&intended), Some(relation), intent)
    };
    assert_eq!(
        decide(&src.c2, Intent::Deploy),
        Verdict::Refuse(Refusal::Older {
            intended: ledger::short(&src.c3).to_owned()
        })
    );
    assert_eq!(
        decide(&src.c2, Intent::RollbackTo),
        Verdict::Start { generation: 6 }
    );
    assert_eq!(
        decide(&src.c3, Intent::Deploy),
        Verdict::Resume { generation: 5 }
    );
    assert!(matches!(
        decide(&src.side, Intent::Deploy),
        Verdict::Refuse(Refusal::Unrelated { .. })
    ));
    assert_eq!(
        decide(&src.orphan, Intent::Force),
        Verdict::Start { generation: 6 }
    );
}

#[test]
fn an_intended_commit_missing_from_the_source_says_to_fetch() {
    let src = source();
    let repo = SourceRepo::discover(src.dir.path()).unwrap();
    let err = repo.relation(&src.c3, SHA_A).unwrap_err();
    assert!(matches!(err, GitError::UnknownCommit { .. }), "{err:?}");
    assert!(err.to_string().contains("fetch it"), "{err}");
}

#[test]
fn a_shallow_clone_is_refused_with_advice() {
    let src = source();
    let clone = TempDir::new().unwrap();
    let target: PathBuf = clone.path().join("shallow");
    let status = Command::new("git")
        .args(["clone", "--quiet", "--depth", "1"])
        .arg(format!("file://{}", src.dir.path().display()))
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success());
    let repo = SourceRepo::discover(&target).unwrap();
    let head = repo.resolve("HEAD").unwrap().sha;
    assert_eq!(repo.relation(&head, &head).unwrap(), Relation::Same);
    let err = repo.relation(&head, &src.c1).unwrap_err();
    assert!(matches!(err, GitError::Shallow { .. }), "{err:?}");
    assert!(err.to_string().contains("fetch-depth: 0"), "{err}");
}

#[test]
fn commits_between_lists_newest_first_with_a_total() {
    let src = source();
    let repo = SourceRepo::discover(src.dir.path()).unwrap();
    let (commits, total) = repo.commits_between(Some(&src.c1), &src.c3, 1).unwrap();
    assert_eq!(total, 2);
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].sha, src.c3);
    let (all, total) = repo.commits_between(None, &src.c3, 10).unwrap();
    assert_eq!(total, 3);
    let shas: Vec<_> = all.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, [src.c3.as_str(), src.c2.as_str(), src.c1.as_str()]);
}

#[test]
fn a_branch_reset_behind_a_snapshot_is_seen_as_moved_not_overwritten() {
    let (dir, location) = bare();
    let mut store = LedgerStore::open(&location).unwrap();
    let empty = store.read("shop", "production").unwrap();
    let first = landed(
        store
            .commit(&empty, &[put_environment(&environment(SHA_A, 1))], "one")
            .unwrap(),
    );
    let snapshot = store.read("shop", "production").unwrap();
    landed(
        store
            .commit(&snapshot, &[put_environment(&environment(SHA_B, 2))], "two")
            .unwrap(),
    );
    let stale = store.read("shop", "production").unwrap();
    // Someone resets the branch back to the first commit.
    let status = Command::new("git")
        .arg("--git-dir")
        .arg(dir.path())
        .args(["update-ref", "refs/heads/conductor/ledger", &first])
        .status()
        .unwrap();
    assert!(status.success());
    // A commit computed on the newer head would be a fast-forward of the
    // reset branch; it must not land on a head it was not computed from.
    let result = store
        .commit(
            &stale,
            &[put_cluster(
                "eu-west-1",
                &cluster(SHA_B, ClusterState::Healthy, 2),
            )],
            "three",
        )
        .unwrap();
    assert_eq!(result, CommitResult::Moved);
}

/// A `git daemon` on a free loopback port serving `base` with pushes enabled;
/// killed (by PID) on drop.
struct Daemon {
    child: std::process::Child,
    url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // The daemon forks a process per connection: stop the whole group
        // it leads, which holds only what it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn git_daemon(base: &Path) -> Daemon {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // `git daemon` runs git-daemon as its child and that forks per
    // connection: start git-daemon itself, leading a process group of its
    // own, so stopping the group stops exactly what it started.
    let exec_path = Command::new("git").arg("--exec-path").output().unwrap();
    let exec_path = String::from_utf8_lossy(&exec_path.stdout).trim().to_owned();
    let child = Command::new(Path::new(&exec_path).join("git-daemon"))
        .args(["--export-all", "--enable=receive-pack", "--reuseaddr"])
        .arg("--listen=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .process_group(0)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed().as_secs() < 10, "git daemon did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Daemon {
        child,
        url: format!("git://127.0.0.1:{port}/ledger.git"),
    }
}

#[test]
fn a_remote_url_works_like_a_path() {
    let dir = TempDir::new().unwrap();
    Repository::init_bare(dir.path().join("ledger.git")).unwrap();
    let daemon = git_daemon(dir.path());
    let location = LedgerLocation::new(daemon.url.clone());
    let mut writer = LedgerStore::open(&location).unwrap();
    let mut reader = LedgerStore::open(&location).unwrap();
    let empty = writer.read("shop", "production").unwrap();
    let env = environment(SHA_A, 1);
    landed(
        writer
            .commit(&empty, &[put_environment(&env)], "over git://")
            .unwrap(),
    );
    assert_eq!(
        reader.read("shop", "production").unwrap().environment,
        Some(env)
    );
    // A stale writer over the network is told the branch moved.
    assert_eq!(
        writer
            .commit(&empty, &[put_environment(&environment(SHA_B, 2))], "stale")
            .unwrap(),
        CommitResult::Moved
    );
}
