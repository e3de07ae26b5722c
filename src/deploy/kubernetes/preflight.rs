//! Everything checked before any cluster of the environment is touched,
//! so a broken credential in wave 2 is found before wave 1 ships.

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::PostParams;
use kube::discovery::ApiResource;
use kube::{Api, Client};

use super::client::REQUEST_TIMEOUT;
use super::cluster::KubeCluster;
use super::discovery::discover;
use crate::deploy::target::Release;

/// The Lease the operator's leader renews (charts/conductor).
pub const CONTROLLER_LEASE: &str = "conductor-controller";

/// A controller that has not renewed its lease for this long is not running.
const LEASE_STALE_SECONDS: i64 = 60;

/// Verbs a deploy needs on every kind it applies: read (fence), apply,
/// and create: an apply that finds nothing to patch creates, and the API
/// server checks `create` for it then.
const VERBS: [&str; 3] = ["get", "create", "patch"];

pub async fn check(cluster: &KubeCluster, release: &Release) -> Vec<String> {
    let mut problems = Vec::new();
    let client = match cluster.client() {
        Ok(client) => client,
        Err(e) => return vec![e.to_string()],
    };
    let context = &cluster.cluster.context;
    match tokio::time::timeout(REQUEST_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return vec![format!("unreachable through context `{context}`: {e}")],
        Err(_) => {
            return vec![format!(
                "unreachable through context `{context}`: no answer within {}s",
                REQUEST_TIMEOUT.as_secs()
            )];
        }
    }
    let namespace = &release.cluster.namespace;
    let kind_of = |o: &crate::render::RenderedObject| (o.api_version.clone(), o.kind.clone());
    // Hooks are recreated, and cleaned up as their policy says.
    let hook_kinds: BTreeSet<(String, String)> =
        release.hooks.iter().map(|h| kind_of(&h.object)).collect();
    let kinds: BTreeSet<(String, String)> = release
        .objects
        .iter()
        .map(kind_of)
        .chain(hook_kinds.iter().cloned())
        .collect();
    let creates_namespace = kinds.iter().any(|(_, k)| k == "Namespace");
    if !creates_namespace {
        match Api::<Namespace>::all(client.clone())
            .get_opt(namespace)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => problems.push(format!("namespace `{namespace}` does not exist")),
            Err(e) => problems.push(format!("cannot read namespace `{namespace}`: {e}")),
        }
    }
    for (api_version, kind) in &kinds {
        match discover(client, api_version, kind).await {
            Ok((resource, caps)) => {
                cluster.remember(api_version, kind, &resource, &caps);
                let scope = (caps.scope == kube::discovery::Scope::Namespaced)
                    .then_some(namespace.as_str());
                let deletes = hook_kinds.contains(&(api_version.clone(), kind.clone()));
                for verb in VERBS.iter().chain(deletes.then_some(&"delete")) {
                    if let Err(problem) = allowed(client, &resource, verb, scope).await {
                        problems.push(problem);
                    }
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    if kinds.iter().any(|(_, k)| k == "Rollout")
        && let Err(problem) = controller_running(cluster, client).await
    {
        problems.push(problem);
    }
    problems
}

/// A SelfSubjectAccessReview: may this client `verb` the resource?
async fn allowed(
    client: &Client,
    resource: &ApiResource,
    verb: &str,
    namespace: Option<&str>,
) -> Result<(), String> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(resource.group.clone()),
                resource: Some(resource.plural.clone()),
                verb: Some(verb.to_owned()),
                namespace: namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let where_ = namespace.map_or_else(
        || "cluster-wide".to_owned(),
        |ns| format!("in namespace `{ns}`"),
    );
    let what = if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(|e| format!("cannot check permission to {verb} {what} {where_}: {e}"))?;
    let status = answer.status.unwrap_or_default();
    if status.allowed {
        Ok(())
    } else {
        let reason = status
            .reason
            .filter(|r| !r.is_empty())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        Err(format!("not allowed to {verb} {what} {where_}{reason}"))
    }
}

/// Rollouts need a controller: its leader renews the lease every few seconds.
async fn controller_running(cluster: &KubeCluster, client: &Client) -> Result<(), String> {
    let namespace = &cluster.cluster.controller_namespace;
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let where_ = format!("lease `{namespace}/{CONTROLLER_LEASE}`");
    let lease = leases
        .get_opt(CONTROLLER_LEASE)
        .await
        .map_err(|e| format!("cannot read the controller's {where_}: {e}"))?
        .ok_or_else(|| format!("no Conductor controller runs here: {where_} not found"))?;
    let spec = lease.spec.unwrap_or_default();
    let holder = spec.holder_identity.filter(|h| !h.is_empty());
    let renewed = spec.renew_time.map(|t| t.0);
    match (holder, renewed) {
        (Some(_), Some(renewed))
            if Timestamp::now().as_second() - renewed.as_second() <= LEASE_STALE_SECONDS =>
        {
            Ok(())
        }
        (_, Some(renewed)) => Err(format!(
            "no Conductor controller holds {where_}: last renewed {}s ago",
            Timestamp::now().as_second() - renewed.as_second()
        )),
        _ => Err(format!("no Conductor controller holds {where_}")),
    }
}
