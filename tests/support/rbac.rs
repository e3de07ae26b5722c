//! RBAC from evidence: the roles Conductor ships, rendered by the real
//! helm and applied to a fake API server that enforces them; what each
//! scenario's identity was allowed, by which rule, written down when
//! `CONDUCTOR_RBAC_USAGE` names a directory; and the report of which rules
//! no scenario needed.
//!
//! ```text
//!   helm template ──▶ Role/ClusterRole/bindings ──▶ fake (enforce_rbac)
//!   scenario as the ServiceAccount ──▶ fake.grants() ──▶ $CONDUCTOR_RBAC_USAGE/<subject>/*.json
//!   tests/rbac.rs: rendered rules × recorded grants ──▶ used / unused per role
//! ```

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use fakeapi::{FakeApi, Grant, RoleKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The release name the scenarios install the operator's chart under.
pub const RELEASE: &str = "conductor";
/// The release name of the deployer's chart (`charts/conductor-deployer`).
pub const DEPLOYER_RELEASE: &str = "conductor-deployer";
/// The usage directory's subject for the operator's ServiceAccount.
pub const OPERATOR: &str = "operator";
/// The usage directory's subject for the CI deployer.
pub const DEPLOYER: &str = "deployer";

/// Where the scenarios write what RBAC allowed them; nothing is written
/// when unset.
pub const USAGE_ENV: &str = "CONDUCTOR_RBAC_USAGE";

fn helm() -> PathBuf {
    if let Some(path) = std::env::var_os("CONDUCTOR_HELM") {
        return PathBuf::from(path);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/helm");
    assert!(
        local.is_file(),
        "helm is needed: run scripts/install-tools.sh or set CONDUCTOR_HELM"
    );
    local
}

/// `helm template <release> <chart> --namespace <ns> [--set k=v]...`, as
/// parsed documents.
pub fn render(chart: &str, release: &str, namespace: &str, sets: &[&str]) -> Vec<Value> {
    let mut command = Command::new(helm());
    command
        .arg("template")
        .arg(release)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(chart))
        .args(["--namespace", namespace]);
    for set in sets {
        command.args(["--set", set]);
    }
    let out = command.output().expect("helm runs");
    assert!(
        out.status.success(),
        "helm template {chart}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .filter(|doc| doc.is_object())
        .collect()
}

/// The kinds RBAC reads, with their plural.
const RBAC_KINDS: [(&str, &str); 4] = [
    ("Role", "roles"),
    ("ClusterRole", "clusterroles"),
    ("RoleBinding", "rolebindings"),
    ("ClusterRoleBinding", "clusterrolebindings"),
];

/// Roles and ClusterRoles among rendered documents.
pub fn roles(documents: &[Value]) -> Vec<Value> {
    documents
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("Role" | "ClusterRole")))
        .cloned()
        .collect()
}

/// Stores the rendered RBAC objects (and ServiceAccounts) in `fake`, as
/// `helm install` would have created them.
pub fn install(fake: &FakeApi, documents: &[Value]) {
    for doc in documents {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let key = match RBAC_KINDS.iter().find(|(k, _)| *k == kind) {
            Some((_, plural)) => ("rbac.authorization.k8s.io/v1", *plural),
            None if kind == "ServiceAccount" => ("v1", "serviceaccounts"),
            None => continue,
        };
        fake.insert(key, doc.clone())
            .unwrap_or_else(|e| panic!("install {kind}: {}", e.message));
    }
}

/// One request RBAC allowed, by which rule of which role; what the usage
/// files hold. Roles are named without their namespace: the charts are
/// rendered into a different one per scenario.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Used {
    pub role: String,
    pub rule: usize,
    pub verb: String,
    pub group: String,
    pub resource: String,
}

/// `ClusterRole conductor`, `Role conductor-leader`.
pub fn role_name(kind: &str, name: &str) -> String {
    format!("{kind} {name}")
}

impl Used {
    pub fn of(grant: &Grant) -> Used {
        let kind = match grant.role.kind {
            RoleKind::Role => "Role",
            RoleKind::ClusterRole => "ClusterRole",
        };
        Used {
            role: role_name(kind, &grant.role.name),
            rule: grant.rule,
            verb: grant.verb.clone(),
            group: grant.group.clone(),
            resource: grant.resource.clone(),
        }
    }
}

/// What `user` was allowed in `fake`, by the roles named `roles`.
pub fn used_by(fake: &FakeApi, user: &str) -> BTreeSet<Used> {
    fake.grants()
        .iter()
        .filter(|g| g.user == user)
        .map(Used::of)
        .collect()
}

/// Every 403 `user` was answered, as messages.
pub fn forbidden_to(fake: &FakeApi, user: &str) -> Vec<String> {
    fake.denials()
        .into_iter()
        // What a test took away on purpose is not the chart's doing.
        .filter(|d| d.user == user && !d.by_rule)
        .map(|d| d.message)
        .collect()
}

static WRITTEN: AtomicUsize = AtomicUsize::new(0);

/// Writes `used` under `$CONDUCTOR_RBAC_USAGE/<subject>/`, one file per
/// scenario, when that variable is set.
pub fn write_usage(subject: &str, scenario: &str, used: &BTreeSet<Used>) {
    let Some(dir) = std::env::var_os(USAGE_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir).join(subject);
    std::fs::create_dir_all(&dir).expect("create the RBAC usage directory");
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let n = WRITTEN.fetch_add(1, Ordering::Relaxed);
    let file = dir.join(format!(
        "{binary}-{scenario}-{}-{n}.json",
        std::process::id()
    ));
    let text = serde_json::to_string_pretty(used).expect("serialisable");
    std::fs::write(&file, text).expect("write the RBAC usage file");
}

/// Everything the scenarios wrote for `subject` under `dir`, and how many
/// scenario files it came from.
pub fn read_usage(dir: &Path, subject: &str) -> (BTreeSet<Used>, usize) {
    let mut all = BTreeSet::new();
    let mut files = 0;
    let Ok(entries) = std::fs::read_dir(dir.join(subject)) else {
        return (all, 0);
    };
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("readable usage file");
        let used: Vec<Used> = serde_json::from_str(&text).expect("a usage file");
        all.extend(used);
        files += 1;
    }
    (all, files)
}

/// One verb on one resource of one rule of a role: the unit a rule can be
/// trimmed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub role: String,
    pub rule: usize,
    pub group: String,
    pub resource: String,
    pub verb: String,
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(
            f,
            "{} rule {}: {} {} ({group})",
            self.role, self.rule, self.verb, self.resource
        )
    }
}

fn strings(rule: &Value, field: &str) -> Vec<String> {
    rule[field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Every permission the roles grant, one per group × resource × verb.
pub fn permissions(roles: &[Value]) -> Vec<Permission> {
    let mut out = Vec::new();
    for role in roles {
        let name = role_name(
            role["kind"].as_str().unwrap_or_default(),
            role["metadata"]["name"].as_str().unwrap_or_default(),
        );
        let rules = role["rules"].as_array().cloned().unwrap_or_default();
        for (index, rule) in rules.iter().enumerate() {
            for group in strings(rule, "apiGroups") {
                for resource in strings(rule, "resources") {
                    for verb in strings(rule, "verbs") {
                        out.push(Permission {
                            role: name.clone(),
                            rule: index,
                            group: group.clone(),
                            resource: resource.clone(),
                            verb,
                        });
                    }
                }
            }
        }
    }
    out
}

/// The roles' permissions split into those some recorded request needed
/// and those none did.
pub fn split(roles: &[Value], used: &BTreeSet<Used>) -> (Vec<Permission>, Vec<Permission>) {
    permissions(roles).into_iter().partition(|p| {
        used.iter().any(|u| {
            u.role == p.role
                && u.rule == p.rule
                && u.group == p.group
                && u.resource == p.resource
                && u.verb == p.verb
        })
    })
}

/// `role: used/total used`, per role, for the report.
pub fn figures(roles: &[Value], used: &[Permission], unused: &[Permission]) -> Vec<String> {
    roles
        .iter()
        .map(|role| {
            let name = role_name(
                role["kind"].as_str().unwrap_or_default(),
                role["metadata"]["name"].as_str().unwrap_or_default(),
            );
            let n_used = used.iter().filter(|p| p.role == name).count();
            let n_unused = unused.iter().filter(|p| p.role == name).count();
            format!(
                "{name}: {n_used} of {} permissions used, {n_unused} unused",
                n_used + n_unused
            )
        })
        .collect()
}

/// Where a shipped role uses `*` in verbs, resources or apiGroups.
pub fn wildcards(roles: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for role in roles {
        let name = role_name(
            role["kind"].as_str().unwrap_or_default(),
            role["metadata"]["name"].as_str().unwrap_or_default(),
        );
        let rules = role["rules"].as_array().cloned().unwrap_or_default();
        for (index, rule) in rules.iter().enumerate() {
            for field in ["verbs", "resources", "apiGroups"] {
                for value in strings(rule, field) {
                    if value.contains('*') {
                        found.push(format!("{name} rule {index}: {field} has {value:?}"));
                    }
                }
            }
        }
    }
    found
}
