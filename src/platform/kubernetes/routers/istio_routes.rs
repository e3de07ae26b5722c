//! An Istio VirtualService's routes and a DestinationRule's subsets as
//! Conductor writes them, from what was read: no I/O. The rules are Argo
//! Rollouts' (`rollout/trafficrouting/istio`):
//!
//! - the routes weighted are the named `routes`, the `tlsRoutes` matching
//!   port and SNI hosts, the `tcpRoutes` matching port; none named means
//!   the only route of that kind (or the first unnamed HTTP route);
//! - in each, the canary destination (its Service host, or its subset)
//!   gets the canary weight, the stable one the rest less what additional
//!   subsets keep, and any other destination is dropped;
//! - the rollout's managed routes (by `managedRoutes` name) are dropped
//!   and written again from `Desired` at the top of `http`, in
//!   `managedRoutes` order: a header route sends its matches to the canary,
//!   a mirror route serves its matches as the weighted route does and
//!   mirrors a share to the canary.

use serde_json::{Map, Value, json};

use crate::crd::traffic::{
    HeaderRoutingMatch, IstioDestinationRule, IstioVirtualService, RouteMatch,
};
use crate::engine::{DesiredRoute, RouteKind};

/// The split as Istio routes take it (percentages).
#[derive(Debug, Clone, Copy)]
pub struct IstioSplit<'a> {
    pub stable: Option<&'a str>,
    pub canary: Option<&'a str>,
    /// Subset-level splitting, when a DestinationRule is named.
    pub subsets: Option<&'a IstioDestinationRule>,
    pub canary_weight: i32,
    pub total: i32,
    pub managed: &'a [&'a str],
    pub routes: &'a [DesiredRoute],
    /// Where header and mirror routes send: the DestinationRule's host
    /// with subset-level splitting, else the canary Service.
    pub canary_host: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IstioError {
    #[error("HTTP route `{0}` not found")]
    NoHttpRoute(String),
    #[error("spec.{0} has several routes: name the ones to weight")]
    Ambiguous(&'static str),
    #[error("no {kind} route matches port {port}{sni}")]
    NoMatch {
        kind: &'static str,
        port: i64,
        sni: String,
    },
    #[error("{0} not found in the weighted route")]
    NoDestination(String),
    #[error("has no HTTP route to add managed routes beside")]
    NoHttpForManagedRoutes,
    #[error("subset `{0}` not found")]
    NoSubset(String),
}

/// The route lists (`http`, `tls`, `tcp`) that change, as they are to be written.
pub fn virtual_service(
    spec: &Value,
    config: &IstioVirtualService,
    split: &IstioSplit,
) -> Result<Vec<(&'static str, Value)>, IstioError> {
    let read = |kind: &str| spec.get(kind).and_then(Value::as_array).cloned();
    let (http_read, tls_read, tcp_read) = (read("http"), read("tls"), read("tcp"));
    let mut changed = Vec::new();

    let mut http: Vec<Value> = http_read
        .iter()
        .flatten()
        .filter(|r| !is_managed(r, split.managed))
        .cloned()
        .collect();
    let weighted = http_indexes(&http, &config.routes)?;
    for &i in &weighted {
        weigh(&mut http[i], split)?;
    }
    let managed = managed_routes(&http, weighted.first().copied(), split)?;
    if !managed.is_empty() {
        http.splice(0..0, managed);
    }
    if let Some(read) = &http_read
        && *read != http
    {
        changed.push(("http", Value::Array(http)));
    }

    if let Some(mut tls) = tls_read.clone() {
        for i in tls_indexes(&tls, config)? {
            weigh(&mut tls[i], split)?;
        }
        if tls_read.as_ref() != Some(&tls) {
            changed.push(("tls", Value::Array(tls)));
        }
    }
    if let Some(mut tcp) = tcp_read.clone() {
        for i in tcp_indexes(&tcp, config)? {
            weigh(&mut tcp[i], split)?;
        }
        if tcp_read.as_ref() != Some(&tcp) {
            changed.push(("tcp", Value::Array(tcp)));
        }
    }
    Ok(changed)
}

fn name(route: &Value) -> Option<&str> {
    route.get("name").and_then(Value::as_str)
}

fn is_managed(route: &Value, managed: &[&str]) -> bool {
    name(route).is_some_and(|n| managed.contains(&n))
}

/// The HTTP routes to weight: by name, or the only (else first unnamed)
/// one; none when the VirtualService has no HTTP routes and names none.
fn http_indexes(http: &[Value], names: &[String]) -> Result<Vec<usize>, IstioError> {
    if names.is_empty() {
        return match http.len() {
            0 => Ok(Vec::new()),
            1 => Ok(vec![0]),
            _ => Err(IstioError::Ambiguous("http")),
        };
    }
    names
        .iter()
        .map(|wanted| {
            http.iter()
                .position(|r| name(r) == Some(wanted.as_str()))
                .ok_or_else(|| IstioError::NoHttpRoute(wanted.clone()))
        })
        .collect()
}

/// The ports (and SNI hosts) a TLS or TCP route matches.
fn ports_and_hosts(route: &Value) -> (Vec<i64>, Vec<String>) {
    let mut ports = Vec::new();
    let mut hosts = Vec::new();
    for m in route
        .get("match")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let port = m.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !ports.contains(&port) {
            ports.push(port);
        }
        for host in m
            .get("sniHosts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(host) = host.as_str()
                && !hosts.iter().any(|h| h == host)
            {
                hosts.push(host.to_owned());
            }
        }
    }
    (ports, hosts)
}

/// Routes of one port (a route matching several never matches one).
fn on_port(routes: &[Value], port: i64, hosts: Option<&[String]>) -> Vec<usize> {
    routes
        .iter()
        .enumerate()
        .filter(|(_, route)| {
            let (ports, mut found) = ports_and_hosts(route);
            let one_port = ports.len() <= 1 && ports.first().copied().unwrap_or(0) == port;
            let same_hosts = hosts.is_none_or(|wanted| {
                let mut wanted = wanted.to_vec();
                wanted.sort();
                found.sort();
                wanted == found
            });
            one_port && same_hosts
        })
        .map(|(i, _)| i)
        .collect()
}

fn tls_indexes(tls: &[Value], config: &IstioVirtualService) -> Result<Vec<usize>, IstioError> {
    if config.tls_routes.is_empty() {
        return only_route(tls, "tls");
    }
    let mut found = Vec::new();
    for wanted in &config.tls_routes {
        let port = wanted.port.unwrap_or(0);
        let matching = on_port(tls, port, Some(&wanted.sni_hosts));
        if matching.is_empty() {
            return Err(IstioError::NoMatch {
                kind: "TLS",
                port,
                sni: format!(" and SNI hosts {:?}", wanted.sni_hosts),
            });
        }
        found.extend(matching);
    }
    Ok(found)
}

fn tcp_indexes(tcp: &[Value], config: &IstioVirtualService) -> Result<Vec<usize>, IstioError> {
    if config.tcp_routes.is_empty() {
        return only_route(tcp, "tcp");
    }
    let mut found = Vec::new();
    for wanted in &config.tcp_routes {
        let port = wanted.port.unwrap_or(0);
        let matching = on_port(tcp, port, None);
        if matching.is_empty() {
            return Err(IstioError::NoMatch {
                kind: "TCP",
                port,
                sni: String::new(),
            });
        }
        found.extend(matching);
    }
    Ok(found)
}

fn only_route(routes: &[Value], kind: &'static str) -> Result<Vec<usize>, IstioError> {
    match routes.len() {
        0 => Ok(Vec::new()),
        1 => Ok(vec![0]),
        _ => Err(IstioError::Ambiguous(kind)),
    }
}

/// A destination's Service: its host up to the first dot
/// (`reviews.shop.svc.cluster.local` is `reviews`).
fn host(destination: &Value) -> &str {
    let host = destination
        .pointer("/destination/host")
        .and_then(Value::as_str)
        .unwrap_or("");
    host.split('.').next().unwrap_or(host)
}

fn subset(destination: &Value) -> Option<&str> {
    destination
        .pointer("/destination/subset")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Canary,
    Stable,
    Kept,
    Dropped,
}

fn side(destination: &Value, split: &IstioSplit) -> Side {
    let host = host(destination);
    let subset = subset(destination);
    let rule = split.subsets;
    if split.canary == Some(host)
        || (subset.is_some() && subset == rule.map(|r| r.canary_subset_name.as_str()))
    {
        Side::Canary
    } else if split.stable == Some(host)
        || (subset.is_some() && subset == rule.map(|r| r.stable_subset_name.as_str()))
    {
        Side::Stable
    } else if subset
        .is_some_and(|s| rule.is_some_and(|r| r.additional_subset_names.iter().any(|a| a == s)))
    {
        Side::Kept
    } else {
        Side::Dropped
    }
}

/// Sets the weights of one route's destinations.
fn weigh(route: &mut Value, split: &IstioSplit) -> Result<(), IstioError> {
    let Some(destinations) = route.get_mut("route").and_then(Value::as_array_mut) else {
        return Err(IstioError::NoDestination(canary_name(split)));
    };
    let sides: Vec<Side> = destinations.iter().map(|d| side(d, split)).collect();
    if !sides.contains(&Side::Canary) {
        return Err(IstioError::NoDestination(canary_name(split)));
    }
    if !sides.contains(&Side::Stable) {
        return Err(IstioError::NoDestination(stable_name(split)));
    }
    let kept: i64 = destinations
        .iter()
        .zip(&sides)
        .filter(|(_, side)| **side == Side::Kept)
        .filter_map(|(d, _)| d.get("weight").and_then(Value::as_i64))
        .sum();
    let canary = i64::from(split.canary_weight);
    let stable = (i64::from(split.total) - canary - kept).max(0);
    let mut sides = sides.into_iter();
    destinations.retain(|_| sides.next() != Some(Side::Dropped));
    for destination in destinations.iter_mut() {
        match side(destination, split) {
            Side::Canary => destination["weight"] = json!(canary),
            Side::Stable => destination["weight"] = json!(stable),
            Side::Kept | Side::Dropped => {}
        }
    }
    Ok(())
}

fn canary_name(split: &IstioSplit) -> String {
    match split.subsets {
        Some(rule) => format!("canary subset `{}`", rule.canary_subset_name),
        None => format!("canary Service `{}`", split.canary.unwrap_or_default()),
    }
}

fn stable_name(split: &IstioSplit) -> String {
    match split.subsets {
        Some(rule) => format!("stable subset `{}`", rule.stable_subset_name),
        None => format!("stable Service `{}`", split.stable.unwrap_or_default()),
    }
}

/// The canary as a destination: host, the weighted route's port, subset.
fn canary_destination(http: &[Value], weighted: Option<usize>, split: &IstioSplit) -> Value {
    let mut destination = Map::new();
    destination.insert("host".into(), json!(split.canary_host.unwrap_or_default()));
    let port = weighted
        .and_then(|i| http.get(i))
        .and_then(|r| r.pointer("/route/0/destination/port/number"))
        .cloned();
    if let Some(port) = port {
        destination.insert("port".into(), json!({ "number": port }));
    }
    if let Some(rule) = split.subsets {
        destination.insert("subset".into(), json!(rule.canary_subset_name));
    }
    Value::Object(destination)
}

/// The managed routes to put on top, in the order `Desired` lists them.
fn managed_routes(
    http: &[Value],
    weighted: Option<usize>,
    split: &IstioSplit,
) -> Result<Vec<Value>, IstioError> {
    if split.routes.is_empty() {
        return Ok(Vec::new());
    }
    let Some(weighted_index) = weighted else {
        return Err(IstioError::NoHttpForManagedRoutes);
    };
    let canary = canary_destination(http, weighted, split);
    let routes = split
        .routes
        .iter()
        .map(|route| match &route.kind {
            RouteKind::Header(headers) => header_route(&route.name, headers, &canary),
            RouteKind::Mirror {
                matches,
                percentage,
            } => json!({
                "name": route.name,
                "match": matches.iter().map(mirror_match).collect::<Vec<_>>(),
                "route": http[weighted_index].get("route").cloned().unwrap_or(json!([])),
                "mirror": canary,
                "mirrorPercentage": { "value": percentage },
            }),
        })
        .collect();
    Ok(routes)
}

/// Each header is a match of its own, as Argo Rollouts writes them: a
/// request carrying any of them goes to the canary.
fn header_route(name: &str, headers: &[HeaderRoutingMatch], canary: &Value) -> Value {
    let matches: Vec<Value> = headers
        .iter()
        .map(|h| json!({ "headers": { h.header_name.clone(): h.header_value } }))
        .collect();
    json!({
        "name": name,
        "match": matches,
        "route": [{ "destination": canary, "weight": 100 }],
    })
}

fn mirror_match(m: &RouteMatch) -> Value {
    let mut out = Map::new();
    if let Some(method) = &m.method {
        out.insert("method".into(), json!(method));
    }
    if let Some(path) = &m.path {
        out.insert("uri".into(), json!(path));
    }
    if !m.headers.is_empty() {
        out.insert("headers".into(), json!(m.headers));
    }
    Value::Object(out)
}

/// A DestinationRule's subsets with the stable and canary subsets' pod
/// label pinned to the hashes (removed when there is none); the other
/// subsets as they are.
pub fn subsets(
    read: &[Value],
    rule: &IstioDestinationRule,
    label: &str,
    stable_hash: Option<&str>,
    canary_hash: Option<&str>,
) -> Result<Vec<Value>, IstioError> {
    let mut subsets = read.to_vec();
    for (subset, hash) in [
        (&rule.stable_subset_name, stable_hash),
        (&rule.canary_subset_name, canary_hash),
    ] {
        let Some(found) = subsets
            .iter_mut()
            .find(|s| name(s) == Some(subset.as_str()))
        else {
            return Err(IstioError::NoSubset(subset.clone()));
        };
        let labels = found
            .as_object_mut()
            .map(|o| o.entry("labels").or_insert_with(|| json!({})));
        if let Some(Value::Object(labels)) = labels {
            match hash {
                Some(hash) => {
                    labels.insert(label.to_owned(), json!(hash));
                }
                None => {
                    labels.remove(label);
                }
            }
        }
    }
    Ok(subsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::traffic::{IstioTlsRoute, StringMatch};

    fn split<'a>(routes: &'a [DesiredRoute], managed: &'a [&'a str]) -> IstioSplit<'a> {
        IstioSplit {
            stable: Some("reviews-stable"),
            canary: Some("reviews-canary"),
            subsets: None,
            canary_weight: 20,
            total: 100,
            managed,
            routes,
            canary_host: Some("reviews-canary"),
        }
    }

    fn weighted_route(name: &str) -> Value {
        json!({"name": name, "route": [
            {"destination": {"host": "reviews-stable.shop.svc.cluster.local", "port": {"number": 8080}}, "weight": 100},
            {"destination": {"host": "reviews-canary"}, "weight": 0},
            {"destination": {"host": "leftover"}, "weight": 0},
        ]})
    }

    #[test]
    fn named_http_and_matching_tls_routes_are_weighted_and_others_left() {
        let spec = json!({
            "http": [weighted_route("primary"), {"name": "other", "route": [{"destination": {"host": "x"}}]}],
            "tls": [{"match": [{"port": 443, "sniHosts": ["a.example"]}], "route": [
                {"destination": {"host": "reviews-stable"}, "weight": 100},
                {"destination": {"host": "reviews-canary"}, "weight": 0}]}],
        });
        let config = IstioVirtualService {
            name: "vs".into(),
            routes: vec!["primary".into()],
            tls_routes: vec![IstioTlsRoute {
                port: Some(443),
                sni_hosts: vec!["a.example".into()],
            }],
            tcp_routes: vec![],
        };
        let changed = virtual_service(&spec, &config, &split(&[], &[])).unwrap();
        assert_eq!(changed.len(), 2);
        assert_eq!(
            changed[0].1[0]["route"],
            json!([
                {"destination": {"host": "reviews-stable.shop.svc.cluster.local", "port": {"number": 8080}}, "weight": 80},
                {"destination": {"host": "reviews-canary"}, "weight": 20},
            ])
        );
        assert_eq!(changed[0].1[1], spec["http"][1]);
        assert_eq!(changed[1].1[0]["route"][1]["weight"], json!(20));
        // Written as it should be: nothing more to change.
        let written = json!({"http": changed[0].1, "tls": changed[1].1});
        assert_eq!(
            virtual_service(&written, &config, &split(&[], &[])),
            Ok(vec![])
        );
        let unnamed = IstioVirtualService {
            routes: vec![],
            ..config.clone()
        };
        assert_eq!(
            virtual_service(&spec, &unnamed, &split(&[], &[])),
            Err(IstioError::Ambiguous("http"))
        );
    }

    #[test]
    fn managed_routes_go_on_top_and_go_away() {
        let spec = json!({"http": [weighted_route("primary")]});
        let config = IstioVirtualService {
            name: "vs".into(),
            ..Default::default()
        };
        let routes = [
            DesiredRoute {
                name: "beta".into(),
                kind: RouteKind::Header(vec![HeaderRoutingMatch {
                    header_name: "x-beta".into(),
                    header_value: StringMatch {
                        exact: Some("yes".into()),
                        ..Default::default()
                    },
                }]),
            },
            DesiredRoute {
                name: "shadow".into(),
                kind: RouteKind::Mirror {
                    matches: vec![RouteMatch {
                        path: Some(StringMatch {
                            prefix: Some("/api/".into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    percentage: 35,
                },
            },
        ];
        let managed = ["beta", "shadow"];
        let changed = virtual_service(&spec, &config, &split(&routes, &managed)).unwrap();
        let http = &changed[0].1;
        assert_eq!(
            http[0],
            json!({"name": "beta",
                   "match": [{"headers": {"x-beta": {"exact": "yes"}}}],
                   "route": [{"destination": {"host": "reviews-canary", "port": {"number": 8080}}, "weight": 100}]})
        );
        assert_eq!(
            http[1]["mirror"],
            json!({"host": "reviews-canary", "port": {"number": 8080}})
        );
        assert_eq!(http[1]["mirrorPercentage"], json!({"value": 35}));
        assert_eq!(http[1]["match"], json!([{"uri": {"prefix": "/api/"}}]));
        assert_eq!(http[1]["route"], http[2]["route"]);
        let written = json!({"http": http});
        let removed = virtual_service(&written, &config, &split(&[], &managed)).unwrap();
        assert_eq!(removed[0].1.as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn subset_level_weights_subsets_and_pins_their_labels() {
        let rule = IstioDestinationRule {
            name: "dr".into(),
            canary_subset_name: "canary".into(),
            stable_subset_name: "stable".into(),
            additional_subset_names: vec!["legacy".into()],
        };
        let spec = json!({"http": [{"route": [
            {"destination": {"host": "ratings", "subset": "stable"}, "weight": 90},
            {"destination": {"host": "ratings", "subset": "canary"}, "weight": 0},
            {"destination": {"host": "ratings", "subset": "legacy"}, "weight": 10},
        ]}]});
        let mut split = split(&[], &[]);
        split.subsets = Some(&rule);
        split.stable = None;
        split.canary = None;
        let changed = virtual_service(&spec, &IstioVirtualService::default(), &split).unwrap();
        let weights: Vec<&Value> = changed[0].1[0]["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| &d["weight"])
            .collect();
        assert_eq!(weights, [&json!(70), &json!(20), &json!(10)]);
        let pinned = subsets(
            &[
                json!({"name": "stable"}),
                json!({"name": "canary", "labels": {"app": "r"}}),
                json!({"name": "legacy"}),
            ],
            &rule,
            "hash",
            Some("aaa"),
            Some("bbb"),
        )
        .unwrap();
        assert_eq!(
            pinned[0],
            json!({"name": "stable", "labels": {"hash": "aaa"}})
        );
        assert_eq!(
            pinned[1],
            json!({"name": "canary", "labels": {"app": "r", "hash": "bbb"}})
        );
        assert_eq!(pinned[2], json!({"name": "legacy"}));
        assert_eq!(
            subsets(&[json!({"name": "stable"})], &rule, "hash", None, None),
            Err(IstioError::NoSubset("canary".into()))
        );
    }
}
