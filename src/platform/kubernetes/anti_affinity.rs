//! `antiAffinity`: a new revision's pods kept off the nodes that run the
//! stable revision's, so that scaling the old revision down empties nodes
//! the cluster autoscaler can take away, instead of leaving new pods
//! scattered on them to be evicted later. The rule is added beside the pod
//! template's own affinity, in the ReplicaSet only (the Rollout's template
//! and its hash are left as written); once the stable revision it names
//! has no pods, it constrains nothing.

use k8s_openapi::api::core::v1::{
    Affinity, PodAffinityTerm, PodAntiAffinity, PodTemplateSpec, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::HASH_LABEL;
use crate::crd::rollout::AntiAffinity;

/// Node by node, as Argo Rollouts spreads them.
const TOPOLOGY_KEY: &str = "kubernetes.io/hostname";

/// Adds to `pod` the rule keeping it off the nodes of `stable_hash`'s pods.
pub fn inject(pod: &mut PodTemplateSpec, rule: &AntiAffinity, stable_hash: &str) {
    let term = PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: HASH_LABEL.to_owned(),
                operator: "In".to_owned(),
                values: Some(vec![stable_hash.to_owned()]),
            }]),
            match_labels: None,
        }),
        topology_key: TOPOLOGY_KEY.to_owned(),
        ..Default::default()
    };
    let anti = pod
        .spec
        .get_or_insert_with(Default::default)
        .affinity
        .get_or_insert_with(Affinity::default)
        .pod_anti_affinity
        .get_or_insert_with(PodAntiAffinity::default);
    if let Some(preferred) = &rule.preferred_during_scheduling_ignored_during_execution {
        anti.preferred_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(WeightedPodAffinityTerm {
                weight: preferred.weight,
                pod_affinity_term: term,
            });
    } else {
        anti.required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(term);
    }
}

/// `pod` without the rules [`inject`] added, as the Rollout's template
/// had it: for undo, which writes a ReplicaSet's template back.
pub fn remove(pod: &mut PodTemplateSpec) {
    let injected = |term: &PodAffinityTerm| {
        term.topology_key == TOPOLOGY_KEY
            && term.label_selector.as_ref().is_some_and(|selector| {
                selector.match_labels.is_none()
                    && selector
                        .match_expressions
                        .as_deref()
                        .is_some_and(|e| e.len() == 1 && e[0].key == HASH_LABEL)
            })
    };
    let Some(affinity) = pod.spec.as_mut().and_then(|s| s.affinity.as_mut()) else {
        return;
    };
    if let Some(anti) = affinity.pod_anti_affinity.as_mut() {
        if let Some(required) = anti
            .required_during_scheduling_ignored_during_execution
            .as_mut()
        {
            required.retain(|term| !injected(term));
            if required.is_empty() {
                anti.required_during_scheduling_ignored_during_execution = None;
            }
        }
        if let Some(preferred) = anti
            .preferred_during_scheduling_ignored_during_execution
            .as_mut()
        {
            preferred.retain(|weighted| !injected(&weighted.pod_affinity_term));
            if preferred.is_empty() {
                anti.preferred_during_scheduling_ignored_during_execution = None;
            }
        }
        if *anti == PodAntiAffinity::default() {
            affinity.pod_anti_affinity = None;
        }
    }
    if *affinity == Affinity::default()
        && let Some(spec) = pod.spec.as_mut()
    {
        spec.affinity = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::rollout::{PreferredAntiAffinity, RequiredAntiAffinity};
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> PodTemplateSpec {
        serde_json::from_value(json!({ "spec": spec })).expect("a pod template")
    }

    #[test]
    fn a_required_rule_goes_beside_the_templates_own_affinity() {
        let mut template = pod(json!({
            "containers": [{ "name": "app" }],
            "affinity": { "podAntiAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": [
                { "topologyKey": "topology.kubernetes.io/zone", "labelSelector": { "matchLabels": { "app": "db" } } }
            ] } }
        }));
        let rule = AntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(RequiredAntiAffinity {}),
            ..Default::default()
        };
        inject(&mut template, &rule, "5f6d7c");
        let written = serde_json::to_value(&template).expect("json");
        assert_eq!(
            written["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
            json!([
                { "topologyKey": "topology.kubernetes.io/zone", "labelSelector": { "matchLabels": { "app": "db" } } },
                { "topologyKey": "kubernetes.io/hostname", "labelSelector": { "matchExpressions": [
                    { "key": HASH_LABEL, "operator": "In", "values": ["5f6d7c"] }
                ] } }
            ])
        );
    }

    #[test]
    fn a_preferred_rule_carries_its_weight() {
        let mut template = pod(json!({ "containers": [{ "name": "app" }] }));
        let rule = AntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(PreferredAntiAffinity {
                weight: 50,
            }),
            ..Default::default()
        };
        inject(&mut template, &rule, "5f6d7c");
        let written = serde_json::to_value(&template).expect("json");
        let anti = &written["spec"]["affinity"]["podAntiAffinity"];
        assert_eq!(
            anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
            50
        );
        assert_eq!(
            anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"],
            "kubernetes.io/hostname"
        );
        assert!(
            anti.get("requiredDuringSchedulingIgnoredDuringExecution")
                .is_none()
        );
    }

    #[test]
    fn undo_gets_the_template_back_as_written() {
        let bare = pod(json!({ "containers": [{ "name": "app" }] }));
        let own = pod(json!({
            "containers": [{ "name": "app" }],
            "affinity": { "podAntiAffinity": { "preferredDuringSchedulingIgnoredDuringExecution": [
                { "weight": 5, "podAffinityTerm": { "topologyKey": "kubernetes.io/hostname",
                  "labelSelector": { "matchLabels": { "app": "cache" } } } }
            ] } }
        }));
        let rules = [
            AntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(RequiredAntiAffinity {}),
                ..Default::default()
            },
            AntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(PreferredAntiAffinity {
                    weight: 1,
                }),
                ..Default::default()
            },
        ];
        for written in [bare, own] {
            for rule in &rules {
                let mut template = written.clone();
                inject(&mut template, rule, "5f6d7c");
                assert_ne!(template, written);
                remove(&mut template);
                assert_eq!(template, written);
            }
        }
    }
}
