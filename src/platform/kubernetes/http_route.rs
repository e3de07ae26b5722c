//! A Gateway API HTTPRoute as the router reads it: metadata and a spec
//! kept as JSON, since only its rules' backend weights are ever touched
//! and k8s-openapi has no Gateway API types.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HttpRoute {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Value,
}

impl HttpRoute {
    /// `spec.rules`, empty when there are none.
    pub fn rules(&self) -> Vec<Value> {
        self.spec
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

impl Resource for HttpRoute {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "HTTPRoute".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        "gateway.networking.k8s.io".into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "httproutes".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
