//! Fields a manifest sets that Conductor's types do not read: an Argo
//! Rollouts feature Conductor does not implement (`trafficRouting.ambassador`,
//! a `job` metric), or a typo. None may be dropped without a word.
//!
//! A structural CRD schema lets the API server prune every field it does
//! not declare, so an Ambassador canary applied as written would be stored as
//! `trafficRouting: {}` and run as a replica-ratio canary. The published
//! schemas therefore keep unknown fields under `spec`
//! ([`keep_unknown_fields`]), and each spec type records, while it is
//! decoded, the path of every field it did not read ([`Unsupported`]).
//! Whoever checks the spec (the engine, the analysis planner, `validate`)
//! reports them as problems naming the field, so the object is visibly
//! invalid instead of quietly different.
//!
//! Recording at decode keeps no copy of the object: the paths are the only
//! thing kept, and a spec Conductor fully understands keeps an empty list.

use std::fmt::Write as _;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

use super::problem::SpecProblem;

/// What every unsupported field is reported as.
pub const NOT_SUPPORTED: &str = "not supported by Conductor";

/// The fields of a spec that its type did not read, as dotted paths from
/// the object's root (`spec.strategy.canary.trafficRouting.ambassador`),
/// sorted. Empty when Conductor read everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unsupported(Vec<String>);

impl Unsupported {
    pub fn paths(&self) -> &[String] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One problem per field.
    pub fn problems(&self) -> impl Iterator<Item = SpecProblem> + '_ {
        self.0
            .iter()
            .map(|path| SpecProblem::new(path.clone(), NOT_SUPPORTED))
    }

    /// The first field as a problem: the one an `InvalidSpec` condition
    /// names (the others follow once it is fixed).
    pub fn first(&self) -> Option<SpecProblem> {
        self.problems().next()
    }

    /// A problem for a rollout field that names an analysis template with
    /// unsupported fields: `<field>: AnalysisTemplate `success-rate`:
    /// spec.metrics[0].provider.wavefront: not supported by Conductor`. `None`
    /// when the template has none.
    pub fn in_template(&self, field: String, kind: &str, name: &str) -> Option<SpecProblem> {
        self.first()
            .map(|problem| SpecProblem::new(field, format!("{kind} `{name}`: {problem}")))
    }

    /// Records one field serde_ignored reports as not read.
    pub fn note(&mut self, path: &serde_ignored::Path<'_>) {
        // Sorted, so the field reported first does not depend on the
        // decoder's key order (a JSON `Value` sorts keys, a stream does not).
        let path = dotted("spec", path);
        if let Err(at) = self.0.binary_search(&path) {
            self.0.insert(at, path);
        }
    }
}

/// Implements `Deserialize` (recording unsupported fields into the spec's
/// `unsupported` field) and `Serialize` for a spec type whose derived
/// implementations are kept as inherent functions by
/// `#[serde(remote = "Self")]`.
macro_rules! records_unsupported {
    ($spec:ident) => {
        $crate::crd::unsupported::records_unsupported!($spec, |_spec: &mut $spec| {});
    };
    // `then` runs on the decoded spec: an older spelling Argo still
    // accepts becomes the current one, once, for every reader.
    ($spec:ident, $then:expr) => {
        impl<'de> serde::Deserialize<'de> for $spec {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let mut unsupported = $crate::crd::unsupported::Unsupported::default();
                let mut note = |path: serde_ignored::Path<'_>| unsupported.note(&path);
                let decoded =
                    $spec::deserialize(serde_ignored::Deserializer::new(deserializer, &mut note));
                let mut spec = decoded?;
                spec.unsupported = unsupported;
                let then: fn(&mut $spec) = $then;
                then(&mut spec);
                Ok(spec)
            }
        }

        impl serde::Serialize for $spec {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $spec::serialize(self, serializer)
            }
        }
    };
}
pub(crate) use records_unsupported;

/// `strategy.canary.steps[2].experiment` under `root`, from serde_ignored's
/// path (whose own form, `strategy.?.canary.?.steps.2`, is for machines).
fn dotted(root: &str, path: &serde_ignored::Path<'_>) -> String {
    fn push(path: &serde_ignored::Path<'_>, out: &mut String) {
        use serde_ignored::Path;
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                push(parent, out);
                let _ = write!(out, "[{index}]");
            }
            Path::Map { parent, key } => {
                push(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => push(parent, out),
        }
    }
    let mut out = root.to_owned();
    push(path, &mut out);
    out
}

/// Marks every object node of a CRD's `spec` schema with
/// `x-kubernetes-preserve-unknown-fields`, so the API server stores fields
/// the schema does not declare for the controller to reject by name,
/// instead of pruning them. The flag is per node, not inherited, hence the
/// walk. `skip` names fields under `spec` left as declared, as dotted paths
/// through arrays (`templates.template` is the `template` of every item of
/// `templates`): a pod template is Kubernetes' own type, pruned as a
/// Deployment's is, and flagging its hundreds of nodes would push the CRD
/// past the size `kubectl apply` can annotate.
pub fn keep_unknown_fields(spec: &mut JSONSchemaProps, skip: &[&str]) {
    preserve(spec, skip);
}

fn preserve(schema: &mut JSONSchemaProps, skip: &[&str]) {
    // Maps (`additionalProperties`) declare every key already; only
    // structs, which declare `properties` (none for an empty one, such as
    // `requiredDuringSchedulingIgnoredDuringExecution: {}`), have fields to
    // lose.
    let empty_struct = schema.type_.as_deref() == Some("object")
        && schema.properties.is_none()
        && schema.additional_properties.is_none();
    if empty_struct {
        schema.x_kubernetes_preserve_unknown_fields = Some(true);
    }
    if let Some(properties) = schema.properties.as_mut() {
        schema.x_kubernetes_preserve_unknown_fields = Some(true);
        for (name, child) in properties.iter_mut() {
            if skip.contains(&name.as_str()) {
                continue;
            }
            let below: Vec<&str> = skip
                .iter()
                .filter_map(|path| path.strip_prefix(name.as_str())?.strip_prefix('.'))
                .collect();
            preserve(child, &below);
        }
    }
    // An array's items stand where the array does.
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => preserve(item, skip),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => {
            items.iter_mut().for_each(|item| preserve(item, skip))
        }
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(value)) = schema.additional_properties.as_mut() {
        preserve(value, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, Default, PartialEq)]
    #[serde(rename_all = "camelCase", remote = "Self")]
    struct Spec {
        #[serde(default)]
        steps: Vec<Step>,
        #[serde(default)]
        routing: Option<Routing>,
        #[serde(skip)]
        unsupported: Unsupported,
    }

    #[derive(Serialize, Deserialize, Debug, Default, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Step {
        set_weight: Option<i32>,
    }

    #[derive(Serialize, Deserialize, Debug, Default, PartialEq)]
    struct Routing {
        nginx: Option<String>,
    }

    records_unsupported!(Spec);

    #[test]
    fn every_field_the_type_did_not_read_is_named_from_the_root() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "steps": [{"setWeight": 10}, {"experiment": {"duration": "1h"}}],
            "routing": {"istio": {"virtualService": {"name": "vs"}}},
            "antiAffinity": {},
        }))
        .unwrap();
        assert_eq!(
            spec.unsupported.paths(),
            [
                "spec.antiAffinity",
                "spec.routing.istio",
                "spec.steps[1].experiment",
            ]
        );
        assert_eq!(
            spec.unsupported.first().unwrap().to_string(),
            "spec.antiAffinity: not supported by Conductor"
        );
        assert_eq!(spec.steps[0].set_weight, Some(10));
        // What Conductor writes back is what it read, never the list.
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            serde_json::json!({"steps": [{"setWeight": 10}, {"setWeight": null}], "routing": {"nginx": null}})
        );
    }

    #[test]
    fn a_spec_read_in_full_records_nothing() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "steps": [{"setWeight": 10}], "routing": {"nginx": "web"},
        }))
        .unwrap();
        assert!(spec.unsupported.is_empty());
        assert_eq!(spec.unsupported.first(), None);
        assert_eq!(
            spec.unsupported
                .in_template("spec.x".into(), "AnalysisTemplate", "t"),
            None
        );
    }

    #[test]
    fn a_template_problem_names_the_rollout_field_the_template_and_its_field() {
        let unsupported = Unsupported(vec!["spec.metrics[0].provider.wavefront".into()]);
        let problem = unsupported
            .in_template(
                "spec.strategy.canary.steps[1].analysis.templates[0].templateName".into(),
                "AnalysisTemplate",
                "smoke",
            )
            .unwrap();
        assert_eq!(
            problem.to_string(),
            "spec.strategy.canary.steps[1].analysis.templates[0].templateName: \
             AnalysisTemplate `smoke`: spec.metrics[0].provider.wavefront: not supported by Conductor"
        );
    }

    #[test]
    fn object_nodes_keep_unknown_fields_except_the_skipped_children() {
        let object = |properties: Vec<(&str, JSONSchemaProps)>| JSONSchemaProps {
            type_: Some("object".into()),
            properties: Some(
                properties
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            ),
            ..Default::default()
        };
        let string = JSONSchemaProps {
            type_: Some("string".into()),
            ..Default::default()
        };
        let mut spec = object(vec![
            (
                "steps",
                JSONSchemaProps {
                    type_: Some("array".into()),
                    items: Some(JSONSchemaPropsOrArray::Schema(Box::new(object(vec![(
                        "setWeight",
                        string.clone(),
                    )])))),
                    ..Default::default()
                },
            ),
            (
                "labels",
                JSONSchemaProps {
                    type_: Some("object".into()),
                    additional_properties: Some(JSONSchemaPropsOrBool::Schema(Box::new(
                        string.clone(),
                    ))),
                    ..Default::default()
                },
            ),
            ("template", object(vec![("spec", object(vec![]))])),
            (
                "required",
                JSONSchemaProps {
                    type_: Some("object".into()),
                    ..Default::default()
                },
            ),
        ]);
        keep_unknown_fields(&mut spec, &["template"]);
        let keeps = |s: &JSONSchemaProps| s.x_kubernetes_preserve_unknown_fields == Some(true);
        let properties = spec.properties.as_ref().unwrap();
        assert!(keeps(&spec));
        let Some(JSONSchemaPropsOrArray::Schema(step)) = &properties["steps"].items else {
            panic!("steps has an item schema");
        };
        assert!(keeps(step));
        assert!(!keeps(&properties["steps"]), "an array is not an object");
        assert!(!keeps(&properties["labels"]), "a map declares every key");
        assert!(
            keeps(&properties["required"]),
            "an empty struct has fields to lose"
        );
        assert!(!keeps(&properties["template"]));
        assert!(!keeps(
            &properties["template"].properties.as_ref().unwrap()["spec"]
        ));
    }
}
