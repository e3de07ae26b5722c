//! Conductor's custom resources, group `conductor.dev`, version `v1alpha1`.
//! The CRD YAML under `crds/` is generated from these types by `conductor crds`.

/// A closed set of values stored as strings: serde, the CRD schema (an
/// `enum`, so the API server rejects anything else) and `as_str` all spell
/// each value from the one literal given here, so they cannot drift apart.
/// Variants carry no doc comments: schemars would turn documented variants
/// into a `oneOf` instead of a plain `enum`.
macro_rules! closed_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            serde::Serialize,
            serde::Deserialize,
            schemars::JsonSchema,
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
        )]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value as stored in the object.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod analysis;
pub mod condition;
pub mod experiment;
pub mod problem;
pub mod quantities;
pub mod rollout;
pub mod schema;
pub mod time;
pub mod traffic;
pub mod unsupported;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

pub use analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
pub use experiment::Experiment;
pub use rollout::Rollout;

/// Every CRD Conductor serves, in a stable order, as published: the API
/// server keeps fields under `spec` that the schema does not declare, for
/// the controller to reject by name (see [`unsupported`]).
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = declared();
    for crd in &mut crds {
        // The pod template is Kubernetes' own type: pruned as in a Deployment.
        let skip: &[&str] = match crd.spec.names.kind.as_str() {
            "Rollout" => &["template"],
            "Experiment" => &["templates.template"],
            _ => &[],
        };
        for version in &mut crd.spec.versions {
            if let Some(spec) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
                .and_then(|s| s.properties.as_mut())
                .and_then(|p| p.get_mut("spec"))
            {
                unsupported::keep_unknown_fields(spec, skip);
            }
        }
    }
    crds
}

/// Every CRD as the Rust types declare it, unknown fields pruned: what
/// strict checking (`conductor validate`) holds manifests to.
pub fn declared() -> Vec<CustomResourceDefinition> {
    let mut rollout = Rollout::crd();
    pod_templates(&mut rollout, &["template"]);
    let mut experiment = Experiment::crd();
    pod_templates(&mut experiment, &["templates", "template"]);
    vec![
        rollout,
        AnalysisTemplate::crd(),
        ClusterAnalysisTemplate::crd(),
        AnalysisRun::crd(),
        experiment,
    ]
}

/// The pod template at `path` under `spec` (through array items), as
/// published: the upstream documentation would push the CRD past the
/// 256 KiB annotation limit of client-side `kubectl apply`, and resource
/// quantities may be written as numbers.
fn pod_templates(crd: &mut CustomResourceDefinition, path: &[&str]) {
    for version in &mut crd.spec.versions {
        let mut node = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("spec"));
        for field in path {
            node = node.and_then(|n| {
                let n = if matches!(n.items, Some(JSONSchemaPropsOrArray::Schema(_))) {
                    match n.items.as_mut() {
                        Some(JSONSchemaPropsOrArray::Schema(item)) => item.as_mut(),
                        _ => return None,
                    }
                } else {
                    n
                };
                n.properties.as_mut().and_then(|p| p.get_mut(*field))
            });
        }
        if let Some(template) = node {
            strip_descriptions(template);
            template.description = Some("Pod template, as in a Deployment.".to_owned());
            quantities::accept_numbers(template);
        }
    }
}

fn strip_descriptions(schema: &mut JSONSchemaProps) {
    schema.description = None;
    let children = schema
        .properties
        .iter_mut()
        .flat_map(|p| p.values_mut())
        .chain(schema.all_of.iter_mut().flatten())
        .chain(schema.any_of.iter_mut().flatten())
        .chain(schema.one_of.iter_mut().flatten());
    for child in children {
        strip_descriptions(child);
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => strip_descriptions(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => {
            items.iter_mut().for_each(strip_descriptions)
        }
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
        strip_descriptions(extra);
    }
}

/// File name for a CRD under `crds/`: its full name, e.g. `rollouts.conductor.dev.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!(
        "{}.yaml",
        crd.metadata
            .name
            .as_deref()
            .unwrap_or(&crd.spec.names.plural)
    )
}

/// The YAML document committed for a CRD.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(crd)
}
