//! AWS ALB: the weighted forward action the AWS Load Balancer Controller
//! reads from `alb.ingress.kubernetes.io/actions.<service>` on each
//! Ingress, where an Ingress rule names `<service>` (the root Service, or
//! the stable one) with port `use-annotation`. The annotation is the whole
//! interface: nothing of AWS is called.

use kube::Client;
use serde::Serialize;
use serde_json::Value;

use super::split::{Split, missing};
use crate::crd::problem::SpecProblem;
use crate::crd::traffic::{AlbTrafficRouting, StickinessConfig};
use crate::platform::kubernetes::lookups::Lookups;
use crate::platform::kubernetes::{KubeError, writes};

const ALB_PREFIX: &str = "alb.ingress.kubernetes.io";

/// The action as the controller reads it, field names and order as Argo
/// Rollouts writes them.
#[derive(Debug, Serialize)]
struct Action<'a> {
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(rename = "ForwardConfig")]
    forward: Forward<'a>,
}

#[derive(Debug, Serialize)]
struct Forward<'a> {
    #[serde(rename = "TargetGroups")]
    target_groups: [TargetGroup<'a>; 2],
    #[serde(
        rename = "TargetGroupStickinessConfig",
        skip_serializing_if = "Option::is_none"
    )]
    stickiness: Option<Stickiness>,
}

#[derive(Debug, Serialize)]
struct TargetGroup<'a> {
    #[serde(rename = "ServiceName")]
    service: &'a str,
    #[serde(rename = "ServicePort")]
    port: String,
    #[serde(rename = "Weight")]
    weight: i32,
}

#[derive(Debug, Serialize)]
struct Stickiness {
    #[serde(rename = "Enabled")]
    enabled: bool,
    #[serde(rename = "DurationSeconds")]
    duration_seconds: i64,
}

/// The forward action's JSON: the canary first, then stable.
fn forward_action(
    (stable, canary): (&str, &str),
    port: i32,
    (stable_weight, canary_weight): (i32, i32),
    stickiness: Option<&StickinessConfig>,
) -> String {
    let action = Action {
        kind: "forward",
        forward: Forward {
            target_groups: [
                TargetGroup {
                    service: canary,
                    port: port.to_string(),
                    weight: canary_weight,
                },
                TargetGroup {
                    service: stable,
                    port: port.to_string(),
                    weight: stable_weight,
                },
            ],
            stickiness: stickiness.filter(|s| s.enabled).map(|s| Stickiness {
                enabled: true,
                duration_seconds: s.duration_seconds,
            }),
        },
    };
    serde_json::to_string(&action).unwrap_or_default()
}

/// Whether an Ingress spec has a path whose backend is `service`.
fn sends_to(spec: &Value, service: &str) -> bool {
    spec.get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|rule| rule.pointer("/http/paths").and_then(Value::as_array))
        .flatten()
        .any(|path| {
            path.pointer("/backend/service/name")
                .and_then(Value::as_str)
                == Some(service)
        })
}

pub async fn apply(
    lookups: &Lookups,
    client: &Client,
    split: &Split<'_>,
    routing: &AlbTrafficRouting,
) -> Result<usize, KubeError> {
    let (stable, canary) = split.services()?;
    let action_service = routing.root_service.as_deref().unwrap_or(stable);
    let prefix = routing.annotation_prefix.as_deref().unwrap_or(ALB_PREFIX);
    let key = format!("{prefix}/actions.{action_service}");
    let value = forward_action(
        (stable, canary),
        routing.service_port,
        (split.stable_weight(), split.canary_weight),
        routing.stickiness_config.as_ref(),
    );
    let mut writes = 0;
    for (field, ingress) in routing.ingresses() {
        let Some(read) = lookups.ingress(&split.namespace, ingress).await? else {
            return Err(missing(field, "Ingress", ingress, &split.namespace));
        };
        let spec = serde_json::to_value(&read.spec).unwrap_or(Value::Null);
        if !sends_to(&spec, action_service) {
            return Err(SpecProblem::new(
                field,
                format!(
                    "no rule of Ingress {ingress} names the Service {action_service} the action is for"
                ),
            )
            .into());
        }
        // Compared as JSON: whoever wrote it last may have spaced it otherwise.
        let current = read
            .annotations
            .get(&key)
            .and_then(|v| serde_json::from_str::<Value>(v).ok());
        if current == serde_json::from_str::<Value>(&value).ok() {
            continue;
        }
        writes += usize::from(
            writes::set_ingress_annotation(client, &split.namespace, ingress, &key, &value).await?,
        );
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_is_argo_rollouts_forward_config() {
        assert_eq!(
            forward_action(("web-stable", "web-canary"), 443, (90, 10), None),
            r#"{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"web-canary","ServicePort":"443","Weight":10},{"ServiceName":"web-stable","ServicePort":"443","Weight":90}]}}"#
        );
        let sticky = StickinessConfig {
            enabled: true,
            duration_seconds: 3600,
        };
        assert!(
            forward_action(("s", "c"), 80, (100, 0), Some(&sticky)).ends_with(
                r#""TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":3600}}}"#
            )
        );
        assert!(sends_to(
            &serde_json::json!({"rules": [{"http": {"paths": [{"backend": {"service": {"name": "root", "port": {"name": "use-annotation"}}}}]}}]}),
            "root"
        ));
    }
}
