//! Running a release's hooks in a cluster: recreate the object (Helm's
//! `before-hook-creation`), wait for a Job to complete or a Pod to exit,
//! say why one failed (the Job's condition and its pods' exit codes), and
//! clean up as the delete policy says. Hook objects that do not run
//! (ConfigMaps, Secrets) are applied in place.

use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::Value;

use super::apply::{api_for, owned_body};
use super::cluster::KubeCluster;
use super::marks::{FIELD_MANAGER, deploy_generation};
use crate::deploy::hooks::Hook;
use crate::deploy::target::{HookStatus, Release, TargetError};

/// How long a deleted hook object may take to be gone before it is
/// recreated.
const GONE_WITHIN: Duration = Duration::from_secs(60);

async fn hook_api(
    cluster: &KubeCluster,
    release: &Release,
    hook: &Hook,
) -> Result<(Api<DynamicObject>, Option<String>), TargetError> {
    let namespace = hook
        .object
        .manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(&release.cluster.namespace)
        .to_owned();
    let (api, namespaced) = api_for(
        cluster,
        &hook.object.api_version,
        &hook.object.kind,
        Some(&namespace),
    )
    .await?;
    Ok((api, namespaced.then_some(namespace)))
}

/// Attempts at starting a hook: each lost race with another deploy
/// (an object written between our read and our write) costs one.
const ATTEMPTS: usize = 10;

pub async fn start(
    cluster: &KubeCluster,
    release: &Release,
    hook: &Hook,
) -> Result<Option<u64>, TargetError> {
    let (api, namespace) = hook_api(cluster, release, hook).await?;
    let name = &hook.object.name;
    let mut body = owned_body(release, &hook.object, namespace.as_deref());
    for _ in 0..ATTEMPTS {
        let live = api
            .get_opt(name)
            .await
            .map_err(|e| cluster.error(format!("reading hook {hook}: {e}")))?;
        if let Some(theirs) = live
            .as_ref()
            .and_then(deploy_generation)
            .filter(|g| *g > release.generation)
        {
            return Ok(Some(theirs));
        }
        let written = match live {
            None => create(&api, &body).await,
            Some(live) if hook.runs() => {
                if !hook.delete.before_creation {
                    return Err(cluster.error(format!(
                        "hook {hook} is left from an earlier run and its helm.sh/hook-delete-policy has no before-hook-creation: delete it, or add that policy"
                    )));
                }
                // Only the object just read: never one a newer deploy
                // created in the meantime.
                match delete_exactly(&api, &live).await {
                    Ok(()) => {
                        wait_until_gone(cluster, &api, hook).await?;
                        create(&api, &body).await
                    }
                    Err(e) => Err(e),
                }
            }
            Some(live) => {
                if let Some(meta) = body["metadata"].as_object_mut() {
                    meta.insert(
                        "resourceVersion".into(),
                        Value::from(live.metadata.resource_version.unwrap_or_default()),
                    );
                }
                api.patch(
                    name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&body),
                )
                .await
                .map(drop)
            }
        };
        match written {
            Ok(()) => return Ok(None),
            // Someone wrote in between: look again.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(cluster.error(format!("starting hook {hook}: {e}"))),
        }
    }
    Err(cluster.error(format!(
        "starting hook {hook}: still racing another writer after {ATTEMPTS} attempts"
    )))
}

async fn create(api: &Api<DynamicObject>, body: &Value) -> Result<(), kube::Error> {
    let object: DynamicObject =
        serde_json::from_value(body.clone()).map_err(kube::Error::SerdeError)?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    api.create(&params, &object).await.map(drop)
}

/// Deletes the object as it was read (uid and resourceVersion
/// preconditions), with its pods; gone already is fine.
async fn delete_exactly(api: &Api<DynamicObject>, live: &DynamicObject) -> Result<(), kube::Error> {
    let params = DeleteParams {
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        preconditions: Some(kube::api::Preconditions {
            uid: live.metadata.uid.clone(),
            resource_version: live.metadata.resource_version.clone(),
        }),
        ..Default::default()
    };
    let name = live.metadata.name.clone().unwrap_or_default();
    match api.delete(&name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn status(
    cluster: &KubeCluster,
    release: &Release,
    hook: &Hook,
) -> Result<HookStatus, TargetError> {
    let (api, namespace) = hook_api(cluster, release, hook).await?;
    let Some(live) = api
        .get_opt(&hook.object.name)
        .await
        .map_err(|e| cluster.error(format!("reading hook {hook}: {e}")))?
    else {
        return Ok(HookStatus::Gone);
    };
    if let Some(generation) = deploy_generation(&live).filter(|g| *g > release.generation) {
        return Ok(HookStatus::Superseded { generation });
    }
    if hook.object.kind == "Pod" {
        return Ok(pod_status(&live.data));
    }
    let condition = |kind: &str| {
        live.data
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c["type"] == kind && c["status"] == "True")
            .cloned()
    };
    if condition("Complete").is_some() {
        return Ok(HookStatus::Succeeded);
    }
    if let Some(failed) = condition("Failed") {
        let mut reason = [&failed["reason"], &failed["message"]]
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(": ");
        if let Some(exits) = job_pod_exits(cluster, namespace.as_deref(), &hook.object.name).await {
            reason = format!("{reason} ({exits})");
        }
        return Ok(HookStatus::Failed { reason });
    }
    let count = |field: &str| {
        live.data
            .pointer(&format!("/status/{field}"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    Ok(HookStatus::Running {
        detail: format!(
            "{} active, {} failed attempts",
            count("active"),
            count("failed")
        ),
    })
}

pub async fn finish(
    cluster: &KubeCluster,
    release: &Release,
    hook: &Hook,
    succeeded: bool,
) -> Result<(), TargetError> {
    let wanted = if succeeded {
        hook.delete.on_success
    } else {
        hook.delete.on_failure
    };
    if !wanted {
        return Ok(());
    }
    let (api, _) = hook_api(cluster, release, hook).await?;
    delete(cluster, &api, hook).await
}

/// Deletes with its pods (background propagation); gone already is fine.
async fn delete(
    cluster: &KubeCluster,
    api: &Api<DynamicObject>,
    hook: &Hook,
) -> Result<(), TargetError> {
    match api
        .delete(&hook.object.name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(cluster.error(format!("deleting hook {hook}: {e}"))),
    }
}

async fn wait_until_gone(
    cluster: &KubeCluster,
    api: &Api<DynamicObject>,
    hook: &Hook,
) -> Result<(), TargetError> {
    let start = Instant::now();
    loop {
        match api.get_opt(&hook.object.name).await {
            Ok(None) => return Ok(()),
            Ok(Some(_)) if start.elapsed() < GONE_WITHIN => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(Some(_)) => {
                return Err(cluster.error(format!(
                    "hook {hook} from the previous run is still being deleted after {}s",
                    GONE_WITHIN.as_secs()
                )));
            }
            Err(e) => return Err(cluster.error(format!("reading hook {hook}: {e}"))),
        }
    }
}

fn pod_status(pod: &Value) -> HookStatus {
    match pod.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => HookStatus::Succeeded,
        Some("Failed") => HookStatus::Failed {
            reason: exits(pod).unwrap_or_else(|| "the pod failed".into()),
        },
        phase => HookStatus::Running {
            detail: format!("pod {}", phase.unwrap_or("Pending")),
        },
    }
}

/// How the Job's pods' containers ended, newest pod first; `None` when
/// there are none to read (or no permission to list them).
async fn job_pod_exits(
    cluster: &KubeCluster,
    namespace: Option<&str>,
    job: &str,
) -> Option<String> {
    let client = cluster.client().ok()?.clone();
    let pods: Api<k8s_openapi::api::core::v1::Pod> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::default_namespaced(client),
    };
    let mut list = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .ok()?
        .items;
    list.sort_by(|a, b| {
        b.metadata
            .creation_timestamp
            .cmp(&a.metadata.creation_timestamp)
    });
    let summaries: Vec<String> = list
        .iter()
        .filter_map(|pod| exits(&serde_json::to_value(pod).ok()?))
        .collect();
    (!summaries.is_empty()).then(|| summaries.join("; "))
}

/// `container migrate exited 1 (Error): relation "tickets" exists` for
/// each terminated container of a pod.
fn exits(pod: &Value) -> Option<String> {
    let statuses = pod.pointer("/status/containerStatuses")?.as_array()?;
    let ended: Vec<String> = statuses
        .iter()
        .filter_map(|status| {
            let terminated = status.pointer("/state/terminated")?;
            let code = terminated.get("exitCode")?.as_i64()?;
            let mut line = format!(
                "container {} exited {code}",
                status.get("name").and_then(Value::as_str).unwrap_or("?")
            );
            if let Some(reason) = terminated.get("reason").and_then(Value::as_str) {
                line.push_str(&format!(" ({reason})"));
            }
            if let Some(message) = terminated
                .get("message")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|m| !m.is_empty())
            {
                let short: String = message.chars().take(200).collect();
                line.push_str(&format!(": {short}"));
            }
            Some(line)
        })
        .collect();
    (!ended.is_empty()).then(|| ended.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_says_how_its_containers_ended() {
        let pod = json!({"status": {"phase": "Failed", "containerStatuses": [
            {"name": "migrate", "state": {"terminated": {"exitCode": 3, "reason": "Error",
                "message": "relation \"tickets\" already exists\n"}}}
        ]}});
        assert_eq!(
            pod_status(&pod),
            HookStatus::Failed {
                reason: "container migrate exited 3 (Error): relation \"tickets\" already exists"
                    .into()
            }
        );
        assert_eq!(
            pod_status(&json!({"status": {"phase": "Running"}})),
            HookStatus::Running {
                detail: "pod Running".into()
            }
        );
    }
}
