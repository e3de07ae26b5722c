//! Resource quantities written as numbers (`cpu: 0.5`, `memory: 1e9`), as
//! people write them in Deployments and Argo Rollouts accepts them in a
//! Rollout's pod template. A Deployment takes them because the API server
//! parses quantities; a CRD's schema would refuse `0.5` as neither an
//! integer nor a string, and k8s-openapi's `Quantity` reads only strings.
//! So the published schema keeps quantity maps as they come (as Argo's
//! CRD does), and decoding turns each number into the same quantity
//! written as a string.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Pod-template fields that map resource names to quantities.
const QUANTITY_MAPS: [&str; 3] = ["limits", "requests", "overhead"];

/// Every quantity map under `schema` (the pod template's) accepts numbers.
pub fn accept_numbers(schema: &mut JSONSchemaProps) {
    if let Some(properties) = schema.properties.as_mut() {
        for (name, child) in properties.iter_mut() {
            if QUANTITY_MAPS.contains(&name.as_str()) && is_quantity_map(child) {
                *child = JSONSchemaProps {
                    description: child.description.take(),
                    x_kubernetes_preserve_unknown_fields: Some(true),
                    ..JSONSchemaProps::default()
                };
            } else {
                accept_numbers(child);
            }
        }
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => accept_numbers(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(accept_numbers),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(value)) = schema.additional_properties.as_mut() {
        accept_numbers(value);
    }
}

fn is_quantity_map(schema: &JSONSchemaProps) -> bool {
    matches!(
        &schema.additional_properties,
        Some(JSONSchemaPropsOrBool::Schema(value)) if value.x_kubernetes_int_or_string == Some(true)
    )
}

/// `deserialize_with` for a pod template: numbers in quantity maps become
/// quantity strings first.
pub fn pod_template<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PodTemplateSpec>, D::Error> {
    let Some(mut value) = Option::<Value>::deserialize(deserializer)? else {
        return Ok(None);
    };
    numbers_to_strings(&mut value);
    serde_json::from_value(value)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// `deserialize_with` for any type holding pod templates (a JobSpec).
pub fn numbers_as_quantities<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let mut value = Value::deserialize(deserializer)?;
    numbers_to_strings(&mut value);
    serde_json::from_value(value).map_err(serde::de::Error::custom)
}

/// Rewrites every number in a quantity map under `value` as a string.
fn numbers_to_strings(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if QUANTITY_MAPS.contains(&key.as_str())
                    && let Value::Object(quantities) = child
                {
                    stringify(quantities);
                } else {
                    numbers_to_strings(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(numbers_to_strings),
        _ => {}
    }
}

fn stringify(quantities: &mut serde_json::Map<String, Value>) {
    for quantity in quantities.values_mut() {
        if let Value::Number(number) = quantity {
            *quantity = Value::String(number.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::json;

    use super::*;

    fn as_written(map: &BTreeMap<String, Quantity>) -> Vec<(&str, &str)> {
        map.iter()
            .map(|(k, v)| (k.as_str(), v.0.as_str()))
            .collect()
    }

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "pod_template")]
        template: Option<PodTemplateSpec>,
    }

    #[test]
    fn numbers_in_resources_read_as_the_quantities_they_write() {
        let holder: Holder = serde_json::from_value(json!({"template": {"spec": {"containers": [{
            "name": "app",
            "resources": {"limits": {"cpu": 0.5, "memory": "1Gi"}, "requests": {"cpu": 1}}
        }]}}}))
        .expect("numbers are quantities");
        let template = holder.template.expect("a template");
        let resources = template.spec.expect("spec").containers[0]
            .resources
            .clone()
            .expect("resources");
        assert_eq!(
            as_written(&resources.limits.expect("limits")),
            [("cpu", "0.5"), ("memory", "1Gi")]
        );
        assert_eq!(
            as_written(&resources.requests.expect("requests")),
            [("cpu", "1")]
        );
    }

    #[test]
    fn no_template_stays_none() {
        let holder: Holder = serde_json::from_value(json!({})).expect("absent");
        assert!(holder.template.is_none());
    }
}
