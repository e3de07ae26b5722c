//! Gateway API route rules as Conductor writes them, from the rules read:
//! no I/O. Every rule sending to the stable Service sends to the canary
//! too, at the decided weights; the rollout's managed rules (header and
//! mirror routes, named after `managedRoutes`) are dropped and written
//! again from `Desired`, one per weighted rule as Argo's gatewayAPI plugin
//! writes them (`<route>`, `<route>-1`, ...), after the other rules.

use serde_json::{Map, Value, json};

use crate::crd::traffic::{HeaderRoutingMatch, MatchKind, RouteMatch, StringMatch};
use crate::engine::{DesiredRoute, RouteKind};

/// The split as a route's backends take it.
#[derive(Debug, Clone, Copy)]
pub struct Backends<'a> {
    pub stable: &'a str,
    pub canary: &'a str,
    pub stable_weight: i32,
    pub canary_weight: i32,
}

/// HTTPRoute or GRPCRoute: their rules differ only in what a match holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Http,
    Grpc,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("no rule sends to the stable Service {0}")]
    NoStableBackend(String),
    #[error("mirror route `{route}`: a GRPCRoute cannot mirror")]
    GrpcMirror { route: String },
    #[error("mirror route `{route}`: Gateway API matches a method exactly, not by {how}")]
    MethodMatch { route: String, how: &'static str },
}

/// The rules to write: weights set, managed rules as `routes` says (when
/// `managed_routes` is false, this route takes none).
pub fn rules(
    read: &[Value],
    backends: &Backends,
    managed: &[&str],
    routes: &[DesiredRoute],
    flavor: Flavor,
) -> Result<Vec<Value>, RulesError> {
    let mut rules: Vec<Value> = read
        .iter()
        .filter(|rule| !is_managed(rule, managed))
        .cloned()
        .collect();
    let mut found = false;
    for rule in &mut rules {
        found |= weigh(rule, backends);
    }
    if !found {
        return Err(RulesError::NoStableBackend(backends.stable.to_owned()));
    }
    let sources: Vec<Value> = rules
        .iter()
        .filter(|rule| sends_to(rule, backends.stable) && sends_to(rule, backends.canary))
        .cloned()
        .collect();
    for route in routes {
        for (i, source) in sources.iter().enumerate() {
            let name = if i == 0 {
                route.name.clone()
            } else {
                format!("{}-{i}", route.name)
            };
            rules.push(match &route.kind {
                RouteKind::Header(headers) => header_rule(name, source, headers, backends),
                RouteKind::Mirror {
                    matches,
                    percentage,
                } => {
                    if flavor == Flavor::Grpc {
                        return Err(RulesError::GrpcMirror {
                            route: route.name.clone(),
                        });
                    }
                    mirror_rule(&route.name, name, source, matches, *percentage, backends)?
                }
            });
        }
    }
    Ok(rules)
}

/// A rule the rollout added: named after a managed route (`beta`, or
/// `beta-2` for the third weighted rule).
pub fn is_managed(rule: &Value, managed: &[&str]) -> bool {
    let Some(name) = rule.get("name").and_then(Value::as_str) else {
        return false;
    };
    managed.iter().any(|m| {
        name == *m
            || name
                .strip_prefix(m)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn backend_refs(rule: &Value) -> &[Value] {
    rule.get("backendRefs")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn ref_name(backend: &Value) -> Option<&str> {
    backend.get("name").and_then(Value::as_str)
}

fn sends_to(rule: &Value, service: &str) -> bool {
    backend_refs(rule)
        .iter()
        .any(|b| ref_name(b) == Some(service))
}

/// Sets the stable and canary weights of a rule that sends to stable,
/// adding the canary backend (a copy of the stable one) where missing.
/// Returns whether the rule sends to stable.
fn weigh(rule: &mut Value, backends: &Backends) -> bool {
    let Some(refs) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) else {
        return false;
    };
    let Some(stable_ref) = refs
        .iter()
        .find(|b| ref_name(b) == Some(backends.stable))
        .cloned()
    else {
        return false;
    };
    if !refs.iter().any(|b| ref_name(b) == Some(backends.canary)) {
        let mut canary_ref = stable_ref;
        canary_ref["name"] = json!(backends.canary);
        refs.push(canary_ref);
    }
    for backend in refs.iter_mut() {
        match ref_name(backend) {
            Some(name) if name == backends.stable => {
                backend["weight"] = json!(backends.stable_weight)
            }
            Some(name) if name == backends.canary => {
                backend["weight"] = json!(backends.canary_weight)
            }
            _ => {}
        }
    }
    true
}

/// The canary's backend in `source`, for a rule of its own: same port.
fn canary_only(source: &Value, backends: &Backends) -> Value {
    let port = backend_refs(source)
        .iter()
        .find(|b| ref_name(b) == Some(backends.canary))
        .and_then(|b| b.get("port"))
        .cloned();
    let mut backend = json!({ "group": "", "kind": "Service", "name": backends.canary });
    if let Some(port) = port {
        backend["port"] = port;
    }
    backend
}

/// A header match as Gateway API takes it: exact, or a regular
/// expression (a prefix becomes one, quoted, as the plugin writes it
/// unquoted).
fn header_match(name: &str, value: &StringMatch) -> Value {
    let (kind, value) = match value.kind() {
        Some(MatchKind::Exact(v)) => ("Exact", v.to_owned()),
        Some(MatchKind::Prefix(v)) => ("RegularExpression", format!("{}.*", regex::escape(v))),
        Some(MatchKind::Regex(v)) => ("RegularExpression", v.to_owned()),
        // The engine checked every match sets exactly one way.
        None => ("Exact", String::new()),
    };
    json!({ "name": name, "type": kind, "value": value })
}

/// `source`'s matches, each with `headers` added (one match with only the
/// headers when the source has none): the header route applies to exactly
/// the requests the weighted rule serves.
fn with_headers(source: &Value, headers: &[Value]) -> Vec<Value> {
    let matches = source
        .get("matches")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty());
    let Some(matches) = matches else {
        return vec![json!({ "headers": headers })];
    };
    matches
        .iter()
        .map(|m| {
            let mut m = m.clone();
            let mut merged: Vec<Value> = m
                .get("headers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            merged.extend(headers.iter().cloned());
            m["headers"] = Value::Array(merged);
            m
        })
        .collect()
}

fn header_rule(
    name: String,
    source: &Value,
    headers: &[HeaderRoutingMatch],
    backends: &Backends,
) -> Value {
    let headers: Vec<Value> = headers
        .iter()
        .map(|h| header_match(&h.header_name, &h.header_value))
        .collect();
    let mut rule = Map::new();
    rule.insert("name".into(), json!(name));
    rule.insert(
        "matches".into(),
        Value::Array(with_headers(source, &headers)),
    );
    // A GRPCRoute's filters are its own kinds; both keep the source's.
    let filters = source.get("filters").cloned().unwrap_or(json!([]));
    rule.insert("filters".into(), filters);
    rule.insert("backendRefs".into(), json!([canary_only(source, backends)]));
    Value::Object(rule)
}

fn path_match(path: &StringMatch) -> Value {
    match path.kind() {
        Some(MatchKind::Exact(v)) => json!({ "type": "Exact", "value": v }),
        Some(MatchKind::Prefix(v)) => json!({ "type": "PathPrefix", "value": v }),
        Some(MatchKind::Regex(v)) => json!({ "type": "RegularExpression", "value": v }),
        None => Value::Null,
    }
}

/// A mirror route on a weighted rule: the same backends and weights, the
/// rule's matches narrowed by each of the route's (its path and method
/// replace the rule's, its headers add to them), and a RequestMirror
/// filter copying `percentage` of them to the canary.
fn mirror_rule(
    route: &str,
    name: String,
    source: &Value,
    matches: &[RouteMatch],
    percentage: i32,
    backends: &Backends,
) -> Result<Value, RulesError> {
    let mut narrowed = Vec::new();
    for m in matches {
        let headers: Vec<Value> = m
            .headers
            .iter()
            .map(|(name, value)| header_match(name, value))
            .collect();
        for mut base in with_headers(source, &headers) {
            if let Some(path) = &m.path {
                base["path"] = path_match(path);
            }
            if let Some(method) = &m.method {
                base["method"] = match method.kind() {
                    Some(MatchKind::Exact(v)) => json!(v),
                    Some(MatchKind::Prefix(_)) => {
                        return Err(RulesError::MethodMatch {
                            route: route.to_owned(),
                            how: "prefix",
                        });
                    }
                    _ => {
                        return Err(RulesError::MethodMatch {
                            route: route.to_owned(),
                            how: "regex",
                        });
                    }
                };
            }
            narrowed.push(base);
        }
    }
    let mut filters: Vec<Value> = source
        .get("filters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut mirror = canary_only(source, backends);
    if let Some(object) = mirror.as_object_mut() {
        object.remove("group");
        object.remove("kind");
    }
    filters.push(json!({
        "type": "RequestMirror",
        "requestMirror": { "backendRef": mirror, "percent": percentage },
    }));
    Ok(json!({
        "name": name,
        "matches": narrowed,
        "filters": filters,
        "backendRefs": backend_refs(source),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKENDS: Backends = Backends {
        stable: "web-stable",
        canary: "web-canary",
        stable_weight: 70,
        canary_weight: 30,
    };

    fn header(name: &str, value: &str) -> HeaderRoutingMatch {
        HeaderRoutingMatch {
            header_name: name.into(),
            header_value: StringMatch {
                exact: Some(value.into()),
                ..Default::default()
            },
        }
    }

    fn route(name: &str, kind: RouteKind) -> DesiredRoute {
        DesiredRoute {
            name: name.into(),
            kind,
        }
    }

    #[test]
    fn weights_go_on_every_rule_to_stable_and_the_canary_backend_is_added() {
        let read = vec![
            json!({"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                   "backendRefs": [{"name": "web-stable", "port": 80}]}),
            json!({"backendRefs": [{"name": "other", "port": 80}]}),
        ];
        let rules = rules(&read, &BACKENDS, &[], &[], Flavor::Http).unwrap();
        assert_eq!(
            rules[0]["backendRefs"],
            json!([{"name": "web-stable", "port": 80, "weight": 70},
                   {"name": "web-canary", "port": 80, "weight": 30}])
        );
        assert_eq!(rules[1], read[1]);
        assert_eq!(
            super::rules(&read[1..], &BACKENDS, &[], &[], Flavor::Http),
            Err(RulesError::NoStableBackend("web-stable".into()))
        );
    }

    #[test]
    fn header_routes_copy_each_weighted_rule_and_go_when_no_longer_desired() {
        let read = vec![
            json!({"matches": [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [{"name": "a", "value": "1"}]}],
                   "backendRefs": [{"name": "web-stable", "port": 80}, {"name": "web-canary", "port": 80}]}),
            json!({"backendRefs": [{"name": "web-stable", "port": 8080}, {"name": "web-canary", "port": 8080}]}),
        ];
        let beta = route("beta", RouteKind::Header(vec![header("x-beta", "yes")]));
        let written = rules(&read, &BACKENDS, &["beta"], &[beta], Flavor::Http).unwrap();
        assert_eq!(written.len(), 4);
        assert_eq!(
            written[2],
            json!({"name": "beta",
                   "matches": [{"path": {"type": "PathPrefix", "value": "/"},
                                "headers": [{"name": "a", "value": "1"}, {"name": "x-beta", "type": "Exact", "value": "yes"}]}],
                   "filters": [],
                   "backendRefs": [{"group": "", "kind": "Service", "name": "web-canary", "port": 80}]})
        );
        assert_eq!(written[3]["name"], json!("beta-1"));
        assert_eq!(
            written[3]["matches"],
            json!([{"headers": [{"name": "x-beta", "type": "Exact", "value": "yes"}]}])
        );
        // Removed: the managed rules go, the weighted ones stay.
        let removed = rules(&written, &BACKENDS, &["beta"], &[], Flavor::Http).unwrap();
        assert_eq!(removed.len(), 2);
        assert!(!is_managed(&json!({"name": "beta-x"}), &["beta"]));
        assert!(is_managed(&json!({"name": "beta-12"}), &["beta"]));
    }

    #[test]
    fn a_mirror_route_keeps_the_split_and_copies_a_share_to_the_canary() {
        let read = vec![json!({"backendRefs": [{"name": "web-stable", "port": 80}]})];
        let shadow = route(
            "shadow",
            RouteKind::Mirror {
                matches: vec![RouteMatch {
                    method: Some(StringMatch {
                        exact: Some("GET".into()),
                        ..Default::default()
                    }),
                    path: Some(StringMatch {
                        prefix: Some("/api/".into()),
                        ..Default::default()
                    }),
                    headers: Default::default(),
                }],
                percentage: 35,
            },
        );
        let written = rules(
            &read,
            &BACKENDS,
            &["shadow"],
            std::slice::from_ref(&shadow),
            Flavor::Http,
        )
        .unwrap();
        assert_eq!(
            written[1],
            json!({"name": "shadow",
                   "matches": [{"headers": [], "path": {"type": "PathPrefix", "value": "/api/"}, "method": "GET"}],
                   "filters": [{"type": "RequestMirror",
                                "requestMirror": {"backendRef": {"name": "web-canary", "port": 80}, "percent": 35}}],
                   "backendRefs": [{"name": "web-stable", "port": 80, "weight": 70},
                                   {"name": "web-canary", "port": 80, "weight": 30}]})
        );
        assert_eq!(
            rules(&read, &BACKENDS, &["shadow"], &[shadow], Flavor::Grpc),
            Err(RulesError::GrpcMirror {
                route: "shadow".into()
            })
        );
    }
}
