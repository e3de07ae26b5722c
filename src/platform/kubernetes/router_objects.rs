//! The traffic routers' objects as the routers read them: metadata and a
//! spec kept as JSON. Conductor touches a few lists in each (backend
//! weights, routes, subsets) and must keep everything else exactly as the
//! owner wrote it; k8s-openapi has none of these types, and typing every
//! field of five CRDs would be a copy of schemas that move on their own.
//!
//! TrafficSplits are the exception: their API version is the controller's
//! choice (`--traffic-split-api-version`, as in Argo Rollouts), so they go
//! through `DynamicObject` with the [`SmiVersion`]'s resource.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{ApiResource, GroupVersionKind};
use serde::Deserialize;
use serde_json::Value;

/// Declares a namespaced resource read as metadata plus a JSON spec.
macro_rules! json_resource {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $group:literal, $version:literal, $plural:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        pub struct $name {
            #[serde(default)]
            pub metadata: ObjectMeta,
            #[serde(default)]
            pub spec: Value,
        }

        impl Resource for $name {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                $kind.into()
            }

            fn group(_: &()) -> Cow<'_, str> {
                $group.into()
            }

            fn version(_: &()) -> Cow<'_, str> {
                $version.into()
            }

            fn plural(_: &()) -> Cow<'_, str> {
                $plural.into()
            }

            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl $name {
            /// `spec.<field>` as a list; empty when absent.
            pub fn list(&self, field: &str) -> Vec<Value> {
                self.spec
                    .get(field)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            }
        }
    };
}

json_resource!(
    /// A Gateway API HTTPRoute: its rules' backend weights are the split.
    HttpRoute,
    "HTTPRoute",
    "gateway.networking.k8s.io",
    "v1",
    "httproutes"
);

json_resource!(
    /// A Gateway API GRPCRoute, weighted as an HTTPRoute is.
    GrpcRoute,
    "GRPCRoute",
    "gateway.networking.k8s.io",
    "v1",
    "grpcroutes"
);

// v1beta1: served by every Istio release since 1.8, unlike v1 (1.22).
json_resource!(
    /// An Istio VirtualService: its HTTP, TLS and TCP routes' destination weights.
    VirtualService,
    "VirtualService",
    "networking.istio.io",
    "v1beta1",
    "virtualservices"
);

json_resource!(
    /// An Istio DestinationRule: its stable and canary subsets select revisions.
    DestinationRule,
    "DestinationRule",
    "networking.istio.io",
    "v1beta1",
    "destinationrules"
);

/// The TrafficSplit API version the controller writes: Argo Rollouts'
/// `--traffic-split-api-version`, `v1alpha1` by default as there (the
/// version Linkerd's SMI extension stores; OSM and newer SMI releases
/// serve later ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmiVersion {
    #[default]
    V1alpha1,
    V1alpha2,
    V1alpha3,
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a TrafficSplit version Conductor writes (v1alpha1, v1alpha2 or v1alpha3)")]
pub struct UnknownSmiVersion(String);

impl std::str::FromStr for SmiVersion {
    type Err = UnknownSmiVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == text)
            .ok_or_else(|| UnknownSmiVersion(text.to_owned()))
    }
}

impl SmiVersion {
    pub const ALL: [Self; 3] = [Self::V1alpha1, Self::V1alpha2, Self::V1alpha3];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1alpha1 => "v1alpha1",
            Self::V1alpha2 => "v1alpha2",
            Self::V1alpha3 => "v1alpha3",
        }
    }

    /// The TrafficSplit resource at this version.
    pub fn traffic_splits(self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("split.smi-spec.io", self.as_str(), "TrafficSplit"),
            "trafficsplits",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_split_versions_are_argo_rollouts_and_name_their_resource() {
        for version in SmiVersion::ALL {
            assert_eq!(version.as_str().parse::<SmiVersion>().ok(), Some(version));
        }
        assert_eq!(SmiVersion::default(), SmiVersion::V1alpha1);
        assert_eq!(
            SmiVersion::V1alpha2.traffic_splits().api_version,
            "split.smi-spec.io/v1alpha2"
        );
        assert_eq!(
            "v1alpha4".parse::<SmiVersion>().map_err(|e| e.to_string()),
            Err("`v1alpha4` is not a TrafficSplit version Conductor writes (v1alpha1, v1alpha2 or v1alpha3)".into())
        );
    }
}
