//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`,
//! `/apis/{group}` and `/apis/{group}/{version}`, as a real server renders
//! them (the legacy, unaggregated form).

use http::{Method, Response};
use serde_json::{Value, json};

use crate::catalog::{self, Group, Resource, Version};
use crate::error::ApiError;
use crate::response::{self, ResponseBody};
use crate::shared::Shared;

pub(crate) const GIT_VERSION: &str = "v1.35.0-fakeapi";

/// Answers a path that addresses no resource: a discovery document, or 404.
pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
) -> Result<Response<ResponseBody>, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let known = matches!(
        segments.as_slice(),
        ["version"] | ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _]
    );
    if !known {
        return Err(not_found(path));
    }
    if *method != Method::GET {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow the method {method} on {path}"),
        ));
    }
    if segments == ["version"] {
        return Ok(response::json(200, &version_info()));
    }
    let groups = catalog::groups(&shared.lock());
    let body = match segments.as_slice() {
        ["api"] => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
            ],
        }),
        ["api", version] => {
            let v = find(&groups, "", version).ok_or_else(|| not_found(path))?;
            resource_list(version, v)
        }
        ["apis"] => json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": groups
                .iter()
                .filter(|g| !g.name.is_empty())
                .map(group_doc)
                .collect::<Vec<_>>(),
        }),
        ["apis", group] => {
            let g = groups
                .iter()
                .find(|g| !g.name.is_empty() && g.name == *group)
                .ok_or_else(|| not_found(path))?;
            let mut doc = group_doc(g);
            doc["kind"] = Value::from("APIGroup");
            doc["apiVersion"] = Value::from("v1");
            doc
        }
        ["apis", group, version] if !group.is_empty() => {
            let v = find(&groups, group, version).ok_or_else(|| not_found(path))?;
            resource_list(&format!("{group}/{version}"), v)
        }
        _ => return Err(not_found(path)),
    };
    Ok(response::json(200, &body))
}

fn not_found(path: &str) -> ApiError {
    ApiError::not_found_path(format!(
        "the server could not find the requested resource: {path}"
    ))
}

fn find<'a>(groups: &'a [Group], group: &str, version: &str) -> Option<&'a Version> {
    groups.iter().find(|g| g.name == group)?.version(version)
}

fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "35",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn group_doc(group: &Group) -> Value {
    let versions: Vec<Value> = group
        .versions
        .iter()
        .map(|v| {
            json!({
                "groupVersion": format!("{}/{}", group.name, v.version),
                "version": v.version,
            })
        })
        .collect();
    json!({
        "name": group.name,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

fn resource_list(group_version: &str, version: &Version) -> Value {
    let resources: Vec<Value> = version.resources.iter().flat_map(entries).collect();
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    })
}

/// The resource's entry, then its `scale` and `status` subresources.
fn entries(r: &Resource) -> Vec<Value> {
    let mut main = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        main["shortNames"] = Value::from(r.short_names.clone());
    }
    let sub_verbs = ["get", "patch", "update"];
    let mut out = vec![main];
    if r.scale {
        out.push(json!({
            "name": format!("{}/scale", r.plural),
            "singularName": "",
            "namespaced": r.namespaced,
            "group": "autoscaling",
            "version": "v1",
            "kind": "Scale",
            "verbs": sub_verbs,
        }));
    }
    if r.status {
        out.push(json!({
            "name": format!("{}/status", r.plural),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": sub_verbs,
        }));
    }
    out
}
