//! Helm hooks a deploy runs before it applies a release: objects the chart
//! marks `helm.sh/hook: pre-install` / `pre-upgrade` (a cluster's first
//! deploy / every later one) or `pre-rollback` (a step back), in
//! `helm.sh/hook-weight` order, each run to its end before the next. A
//! failed hook fails the cluster before its release is touched; that is
//! what makes a database migration safe to ship with the code that needs
//! it. Hooks are never part of the release's objects: not pruned, not in
//! the ledger's object list. Pure: reading the annotations and choosing
//! what runs.

use crate::render::RenderedObject;

pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
pub const WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
pub const DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// When Helm would run a hook. Conductor runs the `Pre*` ones; the others
/// are kept out of the release and said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    PreInstall,
    PreUpgrade,
    PreRollback,
    PostInstall,
    PostUpgrade,
    PostRollback,
    PreDelete,
    PostDelete,
    Test,
}

impl HookEvent {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "pre-install" => Self::PreInstall,
            "pre-upgrade" => Self::PreUpgrade,
            "pre-rollback" => Self::PreRollback,
            "post-install" => Self::PostInstall,
            "post-upgrade" => Self::PostUpgrade,
            "post-rollback" => Self::PostRollback,
            "pre-delete" => Self::PreDelete,
            "post-delete" => Self::PostDelete,
            // `test-success` is Helm 2's name for `test`.
            "test" | "test-success" => Self::Test,
            _ => return None,
        })
    }

    /// The event a deploy of one cluster is: a step back, its first
    /// release there, or an upgrade.
    pub fn of_deploy(rollback: bool, first_in_cluster: bool) -> Self {
        match (rollback, first_in_cluster) {
            (true, _) => Self::PreRollback,
            (false, true) => Self::PreInstall,
            (false, false) => Self::PreUpgrade,
        }
    }
}

/// What happens to a hook object around its run (Helm's default is
/// `before-hook-creation` alone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeletePolicy {
    /// Delete the previous run's object before creating this one.
    pub before_creation: bool,
    pub on_success: bool,
    pub on_failure: bool,
}

#[derive(Debug, Clone)]
pub struct Hook {
    pub object: RenderedObject,
    pub events: Vec<HookEvent>,
    pub weight: i64,
    pub delete: DeletePolicy,
}

impl Hook {
    /// Whether the deploy waits for it to finish (a Job to complete, a Pod
    /// to exit), or only for it to be applied.
    pub fn runs(&self) -> bool {
        matches!(
            (self.object.api_version.as_str(), self.object.kind.as_str()),
            ("batch/v1", "Job") | ("v1", "Pod")
        )
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.object.kind, self.object.name)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HookError {
    #[error("{object}: {annotation} `{value}` is not {expected}")]
    BadAnnotation {
        object: String,
        annotation: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// A release's objects: the hooks, and the rest.
#[derive(Debug, Clone, Default)]
pub struct Split {
    pub hooks: Vec<Hook>,
    pub objects: Vec<RenderedObject>,
}

/// Separates hooks from the release's objects; a hook annotation that
/// does not read is an error naming the object, never a guess.
pub fn split(rendered: Vec<RenderedObject>) -> Result<Split, Vec<HookError>> {
    let mut split = Split::default();
    let mut problems = Vec::new();
    for object in rendered {
        match hook_of(object) {
            Ok(Ok(hook)) => split.hooks.push(hook),
            Ok(Err(object)) => split.objects.push(object),
            Err(mut found) => problems.append(&mut found),
        }
    }
    if problems.is_empty() {
        Ok(split)
    } else {
        Err(problems)
    }
}

/// The hooks a deploy runs for `event`, in Helm's order: by weight, then
/// by kind and name.
pub fn to_run(hooks: &[Hook], event: HookEvent) -> Vec<&Hook> {
    let mut chosen: Vec<&Hook> = hooks.iter().filter(|h| h.events.contains(&event)).collect();
    chosen.sort_by(|a, b| {
        (a.weight, &a.object.kind, &a.object.name).cmp(&(b.weight, &b.object.kind, &b.object.name))
    });
    chosen
}

/// Hooks a deploy never runs (post-*, delete and test hooks), to say so.
pub fn not_run(hooks: &[Hook]) -> Vec<&Hook> {
    hooks
        .iter()
        .filter(|h| {
            !h.events.iter().any(|e| {
                matches!(
                    e,
                    HookEvent::PreInstall | HookEvent::PreUpgrade | HookEvent::PreRollback
                )
            })
        })
        .collect()
}

type Classified = Result<Result<Hook, RenderedObject>, Vec<HookError>>;

fn hook_of(object: RenderedObject) -> Classified {
    let annotation = |key: &str| {
        object
            .manifest
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let Some(events) = annotation(HOOK_ANNOTATION) else {
        return Ok(Err(object));
    };
    let name = format!("{} {}", object.kind, object.name);
    let bad =
        |annotation: &'static str, value: &str, expected: &'static str| HookError::BadAnnotation {
            object: name.clone(),
            annotation,
            value: value.to_owned(),
            expected,
        };
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for word in words(&events) {
        match HookEvent::parse(word) {
            Some(event) => parsed.push(event),
            None => problems.push(bad(HOOK_ANNOTATION, word, "a Helm hook")),
        }
    }
    let weight = match annotation(WEIGHT_ANNOTATION) {
        None => 0,
        Some(text) => text.trim().parse().unwrap_or_else(|_| {
            problems.push(bad(WEIGHT_ANNOTATION, &text, "an integer"));
            0
        }),
    };
    let mut delete = DeletePolicy::default();
    match annotation(DELETE_POLICY_ANNOTATION) {
        None => delete.before_creation = true,
        Some(policies) => {
            for word in words(&policies) {
                match word {
                    "before-hook-creation" => delete.before_creation = true,
                    "hook-succeeded" => delete.on_success = true,
                    "hook-failed" => delete.on_failure = true,
                    other => problems.push(bad(
                        DELETE_POLICY_ANNOTATION,
                        other,
                        "before-hook-creation, hook-succeeded or hook-failed",
                    )),
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Ok(Hook {
        object,
        events: parsed,
        weight,
        delete,
    }))
}

fn words(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(kind: &str, name: &str, annotations: serde_json::Value) -> RenderedObject {
        RenderedObject {
            source: None,
            api_version: if kind == "Job" { "batch/v1" } else { "v1" }.into(),
            kind: kind.into(),
            name: name.into(),
            manifest: json!({"metadata": {"name": name, "annotations": annotations}}),
        }
    }

    #[test]
    fn hooks_leave_the_release_and_run_by_weight_then_kind_and_name() {
        let split = split(vec![
            object("ConfigMap", "plain", json!({})),
            object(
                "Job",
                "migrate",
                json!({"helm.sh/hook": "pre-install, pre-upgrade", "helm.sh/hook-weight": "5"}),
            ),
            object(
                "Secret",
                "db",
                json!({"helm.sh/hook": "pre-upgrade", "helm.sh/hook-weight": "-5"}),
            ),
            object("Job", "b-seed", json!({"helm.sh/hook": "pre-upgrade"})),
            object("Job", "a-seed", json!({"helm.sh/hook": "pre-upgrade"})),
            object("Pod", "smoke", json!({"helm.sh/hook": "test"})),
        ])
        .unwrap();
        assert_eq!(split.objects.len(), 1);
        let order = |event| {
            to_run(&split.hooks, event)
                .iter()
                .map(|h| h.object.name.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            order(HookEvent::PreUpgrade),
            ["db", "a-seed", "b-seed", "migrate"]
        );
        assert_eq!(order(HookEvent::PreInstall), ["migrate"]);
        assert!(order(HookEvent::PreRollback).is_empty());
        let skipped: Vec<_> = not_run(&split.hooks)
            .iter()
            .map(|h| h.to_string())
            .collect();
        assert_eq!(skipped, ["Pod smoke"]);
    }

    #[test]
    fn delete_policies_default_to_before_hook_creation() {
        let split = split(vec![
            object("Job", "default", json!({"helm.sh/hook": "pre-upgrade"})),
            object(
                "Job",
                "cleaned",
                json!({"helm.sh/hook": "pre-upgrade",
                       "helm.sh/hook-delete-policy": "hook-succeeded,hook-failed"}),
            ),
        ])
        .unwrap();
        assert_eq!(
            split.hooks[0].delete,
            DeletePolicy {
                before_creation: true,
                ..Default::default()
            }
        );
        assert_eq!(
            split.hooks[1].delete,
            DeletePolicy {
                before_creation: false,
                on_success: true,
                on_failure: true
            }
        );
        assert!(split.hooks[0].runs());
    }

    #[test]
    fn unreadable_annotations_are_named_not_guessed() {
        let problems = split(vec![object(
            "Job",
            "migrate",
            json!({"helm.sh/hook": "pre-upgrade,pre-deploy",
                   "helm.sh/hook-weight": "first",
                   "helm.sh/hook-delete-policy": "always"}),
        )])
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "Job migrate: helm.sh/hook `pre-deploy` is not a Helm hook",
                "Job migrate: helm.sh/hook-weight `first` is not an integer",
                "Job migrate: helm.sh/hook-delete-policy `always` is not before-hook-creation, hook-succeeded or hook-failed",
            ]
        );
    }

    #[test]
    fn the_deploy_event_follows_helm() {
        assert_eq!(HookEvent::of_deploy(false, true), HookEvent::PreInstall);
        assert_eq!(HookEvent::of_deploy(false, false), HookEvent::PreUpgrade);
        assert_eq!(HookEvent::of_deploy(true, false), HookEvent::PreRollback);
    }
}
