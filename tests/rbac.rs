//! RBAC from evidence: the roles Conductor ships hold no wildcard, and
//! every permission they grant was needed by a scenario or is listed here
//! with the reason it stays.
//!
//! The scenarios (every test on `support/cluster.rs` or `support/fleet.rs`,
//! and `kubectl_plugin.rs`) run on fake API servers that enforce the
//! charts' own rules; a call the rules do not allow fails them. With
//! `CONDUCTOR_RBAC_USAGE=<dir>` set they also write what each rule allowed.
//! The report here reads that directory when `CONDUCTOR_RBAC_REPORT=<dir>`
//! names it (after the scenarios ran: `scripts/rbac-report.sh`, or CI's
//! last step), and skips otherwise.

#[path = "support/rbac.rs"]
mod rbac;

use std::collections::BTreeSet;
use std::path::PathBuf;

use fakeapi::{FakeApi, User};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use rbac::Permission;
use serde_json::{Value, json};

/// Why the controller may read an object its watch caches: `Lookups`
/// reads it from the API server while the index has not listed yet, or
/// when the object is newer than the last watch event (a deploy applies a
/// route with its Rollout). Only timing decides, and the scenarios create
/// these objects before their Rollouts.
const NOT_YET_WATCHED: &str =
    "read before the watch delivered it (Lookups' fallback read); only timing reaches it";

/// Permissions of `charts/conductor` no scenario needs, and why they stay.
const OPERATOR_KEPT: &[(&str, &str, &str)] = &[
    ("ClusterRole conductor", "get services", NOT_YET_WATCHED),
    (
        "ClusterRole conductor",
        "get grpcroutes.gateway.networking.k8s.io",
        NOT_YET_WATCHED,
    ),
    (
        "ClusterRole conductor",
        "get virtualservices.networking.istio.io",
        NOT_YET_WATCHED,
    ),
    (
        "ClusterRole conductor",
        "get destinationrules.networking.istio.io",
        NOT_YET_WATCHED,
    ),
];

/// Why the deployer may delete every kind it applies: a later revision of
/// the chart may drop an object of any of them, and the deploy prunes it.
const PRUNE: &str =
    "prune: a later revision may drop an object of this kind (the scenarios drop a ConfigMap)";

/// Permissions of `charts/conductor-deployer` (as the scenarios render
/// it) no scenario needs, and why they stay.
const DEPLOYER_KEPT: &[(&str, &str, &str)] = &[
    (
        "Role conductor-deployer",
        "delete rollouts.conductor.dev",
        PRUNE,
    ),
    (
        "Role conductor-deployer",
        "delete analysistemplates.conductor.dev",
        PRUNE,
    ),
    ("Role conductor-deployer", "delete services", PRUNE),
    ("Role conductor-deployer", "delete deployments.apps", PRUNE),
    (
        "Role conductor-deployer",
        "delete httproutes.gateway.networking.k8s.io",
        PRUNE,
    ),
];

fn operator_roles() -> Vec<Value> {
    rbac::roles(&rbac::render(
        "charts/conductor",
        rbac::RELEASE,
        "conductor",
        &[],
    ))
}

/// The deployer's roles as the deploy scenarios install them.
fn deployer_roles() -> Vec<Value> {
    rbac::roles(&rbac::render(
        "charts/conductor-deployer",
        rbac::DEPLOYER_RELEASE,
        "conductor",
        &["namespaces={shop}"],
    ))
}

/// `verb resource.group`, as a permission is keyed in the lists above.
fn key(p: &Permission) -> (String, String) {
    let what = if p.group.is_empty() {
        format!("{} {}", p.verb, p.resource)
    } else {
        format!("{} {}.{}", p.verb, p.resource, p.group)
    };
    (p.role.clone(), what)
}

#[test]
fn shipped_roles_grant_no_wildcard() {
    let mut roles = operator_roles();
    roles.extend(rbac::roles(&rbac::render(
        "charts/conductor",
        rbac::RELEASE,
        "ops",
        &["watchNamespace=shop"],
    )));
    roles.extend(deployer_roles());
    roles.extend(rbac::roles(&rbac::render(
        "charts/conductor-deployer",
        rbac::DEPLOYER_RELEASE,
        "ci",
        &[],
    )));
    assert!(
        roles.len() >= 4,
        "the charts render their roles: {roles:#?}"
    );
    let found = rbac::wildcards(&roles);
    assert!(found.is_empty(), "wildcards in shipped roles:\n{found:#?}");

    // The check sees one where there is one.
    let wild = json!({"kind": "Role", "metadata": {"name": "x"},
        "rules": [{"apiGroups": [""], "resources": ["*/status"], "verbs": ["get"]}]});
    assert_eq!(
        rbac::wildcards(&[wild]),
        ["Role x rule 0: resources has \"*/status\""]
    );
}

/// Grants recorded in-process reach the report as the permissions of the
/// rules that allowed them, and only those.
#[tokio::test]
async fn a_request_counts_for_the_rule_that_allowed_it() {
    let documents = rbac::render("charts/conductor", rbac::RELEASE, "default", &[]);
    let fake = FakeApi::new();
    fake.enforce_rbac().unwrap();
    rbac::install(&fake, &documents);
    let user = User::service_account("default", rbac::RELEASE);
    let client = fake.client_as(user.clone());
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "l"}})).unwrap();
    let leases: Api<Lease> = Api::default_namespaced(client.clone());
    leases.create(&PostParams::default(), &lease).await.unwrap();
    leases.get("l").await.unwrap();
    // Secrets may be read, never written: that is a 403 and no grant.
    let secrets: Api<Secret> = Api::default_namespaced(client);
    let err = secrets
        .patch(
            "s",
            &PatchParams::apply("x"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret"})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 403));

    let used = rbac::used_by(&fake, &user.name);
    let (used, unused) = rbac::split(&rbac::roles(&documents), &used);
    let used: BTreeSet<_> = used.iter().map(key).collect();
    let lease = |verb: &str| {
        (
            "Role conductor-leader".to_owned(),
            format!("{verb} leases.coordination.k8s.io"),
        )
    };
    assert_eq!(used, BTreeSet::from([lease("create"), lease("get")]));
    assert!(unused.iter().map(key).any(|k| k == lease("update")));
    assert_eq!(rbac::forbidden_to(&fake, &user.name).len(), 1);
}

/// The report: every permission no scenario needed must be in `kept`, and
/// everything in `kept` must be a permission the chart grants.
fn report(subject: &str, roles: &[Value], kept: &[(&str, &str, &str)]) {
    let Some(dir) = std::env::var_os("CONDUCTOR_RBAC_REPORT").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: set CONDUCTOR_RBAC_REPORT to the CONDUCTOR_RBAC_USAGE directory the scenarios wrote (scripts/rbac-report.sh)"
        );
        return;
    };
    let (used, files) = rbac::read_usage(&dir, subject);
    assert!(
        files > 0,
        "no {subject} usage under {}: run the scenarios with CONDUCTOR_RBAC_USAGE set to it first",
        dir.display()
    );
    let (used, unused) = rbac::split(roles, &used);
    println!("{subject}: usage from {files} scenarios");
    for line in rbac::figures(roles, &used, &unused) {
        println!("  {line}");
    }
    let kept: BTreeSet<(String, String)> = kept
        .iter()
        .map(|(role, what, _)| ((*role).to_owned(), (*what).to_owned()))
        .collect();
    let mut unexplained = Vec::new();
    for p in &unused {
        let reason = kept
            .contains(&key(p))
            .then(|| kept_reason(subject, &key(p)).unwrap_or_default().to_owned());
        match reason {
            Some(reason) => println!("  unused, kept: {p} — {reason}"),
            None => {
                println!("  unused: {p}");
                unexplained.push(p.to_string());
            }
        }
    }
    // A kept permission a scenario happened to need is fine (timing decides
    // some); one the chart no longer grants is a stale entry.
    let granted: BTreeSet<_> = used.iter().chain(&unused).map(key).collect();
    let stale: Vec<_> = kept.difference(&granted).collect();
    assert!(
        unexplained.is_empty(),
        "{subject}: permissions no scenario needed; trim them, or keep them with a reason in tests/rbac.rs:\n{}",
        unexplained.join("\n")
    );
    assert!(
        stale.is_empty(),
        "{subject}: kept, but the chart no longer grants them: {stale:?}"
    );
}

fn kept_reason(subject: &str, key: &(String, String)) -> Option<&'static str> {
    let list = if subject == rbac::OPERATOR {
        OPERATOR_KEPT
    } else {
        DEPLOYER_KEPT
    };
    list.iter()
        .find(|(role, what, _)| *role == key.0 && *what == key.1)
        .map(|(_, _, why)| *why)
}

#[test]
fn every_operator_permission_was_needed_or_is_explained() {
    report(rbac::OPERATOR, &operator_roles(), OPERATOR_KEPT);
}

#[test]
fn every_deployer_permission_was_needed_or_is_explained() {
    report(rbac::DEPLOYER, &deployer_roles(), DEPLOYER_KEPT);
}
