//! What an AnalysisRun's measurements read from the cluster (Secrets for
//! arguments and Datadog keys, the rollout's fields, the canary pods'
//! addresses), fetched once before measuring so the providers' lookups
//! stay synchronous and never reach the API server mid-measurement.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use super::{HASH_LABEL, KubeError, ROLLOUT_LABEL};
use crate::analysis::args::ArgSource;
use crate::analysis::plan::DatadogSecret;
use crate::analysis::providers::{DatadogKeys, EndpointSource};
use crate::crd::analysis::AnalysisRun;
use crate::crd::rollout::Rollout;
use crate::engine::MissingReference;

type SecretValues = HashMap<String, String>;

#[derive(Default)]
pub struct Prefetched {
    /// Secrets of the run's namespace: name → key → value; a missing
    /// Secret is absent.
    secrets: HashMap<String, SecretValues>,
    /// Datadog Secrets of the controller's own namespace.
    home_secrets: HashMap<String, SecretValues>,
    rollout: Option<Value>,
    pods: Vec<Pod>,
}

/// `home` is the controller's own namespace, where Datadog Secrets not
/// marked `namespaced` are.
pub async fn prefetch(
    client: &Client,
    run: &AnalysisRun,
    home: &str,
) -> Result<Prefetched, KubeError> {
    let namespace = run.namespace().unwrap_or_default();
    let datadog: Vec<DatadogSecret> = run
        .spec
        .metrics
        .iter()
        .filter_map(|m| m.provider.datadog.as_ref())
        .map(|d| DatadogSecret::of(d.secret_ref.as_ref()))
        .collect();
    let mut names: Vec<String> = run
        .spec
        .args
        .iter()
        .filter_map(|a| a.value_from.as_ref()?.secret_key_ref.as_ref())
        .map(|s| s.name.clone())
        .collect();
    let in_run = datadog
        .iter()
        .filter(|s| s.namespaced)
        .map(|s| s.name.clone());
    names.extend(in_run);
    let mut home_names: Vec<String> = datadog
        .iter()
        .filter(|s| !s.namespaced)
        .map(|s| s.name.clone())
        .collect();
    let mut fetched = Prefetched {
        secrets: read_secrets(client, &namespace, &mut names).await?,
        home_secrets: read_secrets(client, home, &mut home_names).await?,
        ..Prefetched::default()
    };
    let rollout_name = run.labels().get(ROLLOUT_LABEL).cloned();
    let wants_fields = run
        .spec
        .args
        .iter()
        .any(|a| a.value_from.as_ref().is_some_and(|f| f.field_ref.is_some()));
    if let (true, Some(name)) = (wants_fields, &rollout_name) {
        let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &namespace);
        let rollout = rollouts.get_opt(name).await?;
        fetched.rollout = rollout.and_then(|r| serde_json::to_value(r).ok());
    }
    let scrapes = run
        .spec
        .metrics
        .iter()
        .any(|m| m.provider.pod_scrape.is_some());
    if let (true, Some(hash)) = (scrapes, run.labels().get(HASH_LABEL)) {
        let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        // Pods carry the template's labels and the hash, not the rollout label.
        let selector = format!("{HASH_LABEL}={hash}");
        fetched.pods = pods
            .list(&ListParams::default().labels(&selector))
            .await?
            .items;
    }
    Ok(fetched)
}

/// The Secrets `names` of `namespace` that exist, by name.
async fn read_secrets(
    client: &Client,
    namespace: &str,
    names: &mut Vec<String>,
) -> Result<HashMap<String, SecretValues>, KubeError> {
    names.sort();
    names.dedup();
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut found = HashMap::new();
    for name in names.iter() {
        if let Some(secret) = api.get_opt(name).await? {
            let values = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .chain(secret.string_data.unwrap_or_default())
                .collect();
            found.insert(name.clone(), values);
        }
    }
    Ok(found)
}

fn value_of(
    secrets: &HashMap<String, SecretValues>,
    name: &str,
    key: &str,
) -> Result<String, String> {
    let secret = secrets
        .get(name)
        .ok_or_else(|| format!("Secret {name} not found"))?;
    secret
        .get(key)
        .cloned()
        .ok_or_else(|| format!("Secret {name} has no key {key}"))
}

impl Prefetched {
    fn secret_value(&self, name: &str, key: &str) -> Result<String, String> {
        value_of(&self.secrets, name, key)
    }

    /// The first Secret `run` names (an argument's `secretKeyRef`, a
    /// Datadog metric's keys) that does not exist: a run waits for it, as
    /// a pod waits for the Secrets its containers name. `home` is the
    /// controller's own namespace.
    pub fn missing_secret(&self, run: &AnalysisRun, home: &str) -> Option<MissingReference> {
        let namespace = run.namespace().unwrap_or_default();
        let missing = |field: String, namespace: &str, name: &str| MissingReference {
            field,
            kind: "Secret".into(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        };
        let args = run.spec.args.iter().enumerate().filter_map(|(i, arg)| {
            let name = &arg.value_from.as_ref()?.secret_key_ref.as_ref()?.name;
            (!self.secrets.contains_key(name)).then(|| {
                missing(
                    format!("spec.args[{i}].valueFrom.secretKeyRef.name"),
                    &namespace,
                    name,
                )
            })
        });
        let datadog = run
            .spec
            .metrics
            .iter()
            .enumerate()
            .filter_map(|(i, metric)| {
                let secret =
                    DatadogSecret::of(metric.provider.datadog.as_ref()?.secret_ref.as_ref());
                let (found, place) = if secret.namespaced {
                    (&self.secrets, namespace.as_str())
                } else {
                    (&self.home_secrets, home)
                };
                (!found.contains_key(&secret.name)).then(|| {
                    missing(
                        format!("spec.metrics[{i}].provider.datadog.secretRef"),
                        place,
                        &secret.name,
                    )
                })
            });
        args.chain(datadog).next()
    }
}

impl ArgSource for Prefetched {
    fn secret(&self, name: &str, key: &str) -> Result<String, String> {
        self.secret_value(name, key)
    }

    /// `metadata.name`, `metadata.labels['app']`, `spec.replicas`...
    fn field(&self, path: &str) -> Result<String, String> {
        let rollout = self
            .rollout
            .as_ref()
            .ok_or_else(|| "the run's rollout was not found".to_owned())?;
        let mut value = rollout;
        for part in field_path(path) {
            value = value
                .get(&part)
                .ok_or_else(|| format!("the rollout has no {path}"))?;
        }
        Ok(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// Splits `metadata.labels['app.kubernetes.io/name']` into its keys.
fn field_path(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")) {
            let end = inner.find(['\'', '"']).unwrap_or(inner.len());
            parts.push(inner[..end].to_owned());
            rest = inner.get(end + 2..).unwrap_or("");
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end > 0 {
                parts.push(rest[..end].to_owned());
            }
            rest = rest[end..].strip_prefix('.').unwrap_or(&rest[end..]);
        }
    }
    parts
}

impl DatadogKeys for Prefetched {
    fn keys(&self, secret: &DatadogSecret) -> Result<(String, String), String> {
        let secrets = if secret.namespaced {
            &self.secrets
        } else {
            &self.home_secrets
        };
        Ok((
            value_of(secrets, &secret.name, "api-key")?,
            value_of(secrets, &secret.name, "app-key")?,
        ))
    }
}

impl EndpointSource for Prefetched {
    fn endpoints(&self, port: &IntOrString) -> Result<Vec<String>, String> {
        let mut urls = Vec::new();
        for pod in &self.pods {
            let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.as_ref()) else {
                continue;
            };
            let number = match port {
                IntOrString::Int(n) => Some(*n),
                IntOrString::String(name) => pod
                    .spec
                    .iter()
                    .flat_map(|s| &s.containers)
                    .flat_map(|c| c.ports.iter().flatten())
                    .find(|p| p.name.as_deref() == Some(name.as_str()))
                    .map(|p| p.container_port),
            };
            let number = number.ok_or_else(|| {
                format!(
                    "pod {} has no container port named {port:?}",
                    pod.name_any()
                )
            })?;
            urls.push(format!("http://{ip}:{number}"));
        }
        if urls.is_empty() {
            return Err("no running canary pod with an IP address".into());
        }
        Ok(urls)
    }
}

#[cfg(test)]
mod tests {
    use super::field_path;

    #[test]
    fn field_paths_split_on_dots_and_brackets() {
        assert_eq!(field_path("metadata.name"), ["metadata", "name"]);
        assert_eq!(
            field_path("metadata.labels['app.kubernetes.io/name']"),
            ["metadata", "labels", "app.kubernetes.io/name"]
        );
        assert_eq!(field_path("spec.replicas"), ["spec", "replicas"]);
    }
}
