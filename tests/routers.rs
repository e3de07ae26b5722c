//! Every traffic router end to end: the controller against the fake API
//! server with the router projects' own CRDs installed
//! (`tests/fixtures/crds/`, pruned and checked as a cluster would), the
//! routers' objects as their owners write them, and Rollouts as Argo
//! Rollouts users write them. Each router keeps the weight, abort and
//! promotion semantics of the others: the weight of the step once the
//! canary is up, 0 on abort, 0 (all to the new stable) once promoted; and
//! header and mirror routes from their step until an abort or the end.
//!
//! The CRD-backed routers run against the fake only (a real cluster may
//! not serve Istio or SMI); NGINX and ALB (Ingresses) run anywhere.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/rollouts.rs"]
mod rollouts;

use std::time::Duration;

use cluster::{Cluster, phase, wait_for};
use conductor::crd::rollout::Rollout;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use rollouts::{
    V1, V2, canary_weight, healthy_at, role_services, services, set_image, with_canary,
};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn virtual_services() -> ApiResource {
    resource(
        "networking.istio.io",
        "v1beta1",
        "VirtualService",
        "virtualservices",
    )
}

fn destination_rules() -> ApiResource {
    resource(
        "networking.istio.io",
        "v1beta1",
        "DestinationRule",
        "destinationrules",
    )
}

fn http_routes() -> ApiResource {
    resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")
}

fn grpc_routes() -> ApiResource {
    resource("gateway.networking.k8s.io", "v1", "GRPCRoute", "grpcroutes")
}

fn traffic_splits() -> ApiResource {
    resource(
        "split.smi-spec.io",
        "v1alpha1",
        "TrafficSplit",
        "trafficsplits",
    )
}

/// A cluster with the routers' CRDs, or `None` (said) on a real cluster.
async fn cluster_with_crds(test: &str, files: &[&str]) -> Option<Cluster> {
    let cluster = Cluster::start(test).await;
    if cluster.fake().is_none() {
        eprintln!("SKIPPED: {test} installs router CRDs, which only the fake API server gets");
        return None;
    }
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client());
    for file in files {
        let path = format!("{}/tests/fixtures/crds/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("a CRD fixture");
        let crd: CustomResourceDefinition = serde_yaml::from_str(&text).expect("a CRD");
        api.patch(
            &crd.name_any(),
            &PatchParams::apply("routers-test").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("install the CRD");
    }
    Some(cluster)
}

async fn create(cluster: &Cluster, resource: &ApiResource, object: Value) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client(), &cluster.namespace, resource);
    let object: DynamicObject = serde_json::from_value(object).expect("an object");
    api.create(&PostParams::default(), &object)
        .await
        .expect("create the router object");
}

async fn read(cluster: &Cluster, resource: &ApiResource, name: &str) -> Value {
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client(), &cluster.namespace, resource);
    serde_json::to_value(api.get(name).await.expect("the router object")).expect("json")
}

/// Polls `name` until `done` holds, failing with the last version seen.
async fn wait_object(
    cluster: &Cluster,
    resource: &ApiResource,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = tokio::time::Instant::now();
    loop {
        let object = read(cluster, resource, name).await;
        if done(&object) {
            return object;
        }
        assert!(
            start.elapsed() < LIMIT,
            "{name}: not {what} after {LIMIT:?}: {object:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A canary Rollout of 4 pods on V1 with `canary` merged into its
/// strategy (`stableService` and `canaryService` are `<name>-stable`/`-canary`
/// unless `canary` sets them to null).
fn rollout(name: &str, canary: Value) -> Value {
    let defaults = json!({
        // The default 30 s delay before old pods go would race the limit.
        "scaleDownDelaySeconds": 2,
        "abortScaleDownDelaySeconds": 2,
    });
    let object = rollouts::rollout(name, V1, 4, json!([]));
    with_canary(with_canary(object, defaults), canary)
}

fn paused_at(weight: i32) -> impl Fn(&Rollout) -> bool {
    move |r: &Rollout| phase(r) == "Paused" && canary_weight(r) == Some(weight)
}

fn aborted(r: &Rollout) -> bool {
    r.status.as_ref().and_then(|s| s.abort) == Some(true) && canary_weight(r) == Some(0)
}

async fn cli(cluster: &Cluster, args: &[&str]) {
    let (code, out) = cluster.cli(args).await;
    assert_eq!(code, 0, "{out}");
}

/// Brings `name` to a canary at `weight`, having been healthy on V1.
async fn canary_at(cluster: &Cluster, name: &str, object: Value, weight: i32) {
    let api = cluster.api::<Rollout>();
    cluster.apply::<Rollout>(object).await;
    wait_for(&api, name, LIMIT, "healthy on 3.9", healthy_at("3.9")).await;
    set_image(cluster, name, V2).await;
    wait_for(&api, name, LIMIT, "paused at its weight", paused_at(weight)).await;
}

/// (destination host or subset, weight) of an Istio route.
fn destinations(route: &Value) -> Vec<(String, i64)> {
    route["route"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let at = d["destination"]["subset"]
                .as_str()
                .or(d["destination"]["host"].as_str())
                .unwrap_or_default();
            (at.to_owned(), d["weight"].as_i64().unwrap_or(-1))
        })
        .collect()
}

/// (backend, weight) of a Gateway API rule.
fn backends(rule: &Value) -> Vec<(String, i64)> {
    rule["backendRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or_default().to_owned(),
                b["weight"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn pair(a: &str, x: i64, b: &str, y: i64) -> Vec<(String, i64)> {
    vec![(a.to_owned(), x), (b.to_owned(), y)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_weights_http_and_tls_routes_of_several_virtual_services() {
    let Some(cluster) =
        cluster_with_crds("istio-host", &["virtualservices.networking.istio.io.yaml"]).await
    else {
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "rev").await;
    create(&cluster, &virtual_services(), json!({
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": { "name": "rev-public" },
        "spec": { "hosts": ["reviews"], "http": [
            { "name": "primary", "route": [
                { "destination": { "host": "rev-stable", "port": { "number": 80 } }, "weight": 100 },
                { "destination": { "host": "rev-canary", "port": { "number": 80 } }, "weight": 0 } ] },
            { "name": "static", "route": [{ "destination": { "host": "static" } }] } ] }
    }))
    .await;
    create(&cluster, &virtual_services(), json!({
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": { "name": "rev-internal" },
        "spec": { "hosts": ["internal.example.com"], "tls": [
            { "match": [{ "port": 443, "sniHosts": ["internal.example.com"] }], "route": [
                { "destination": { "host": "rev-stable.default.svc.cluster.local" }, "weight": 100 },
                { "destination": { "host": "rev-canary.default.svc.cluster.local" }, "weight": 0 } ] } ] }
    }))
    .await;
    let object = rollout(
        "rev",
        json!({
            "trafficRouting": { "istio": { "virtualServices": [
                { "name": "rev-public", "routes": ["primary"] },
                { "name": "rev-internal", "tlsRoutes": [{ "port": 443, "sniHosts": ["internal.example.com"] }] } ] } },
            "steps": [{ "setWeight": 30 }, { "pause": {} }],
        }),
    );
    canary_at(&cluster, "rev", object, 30).await;
    let weights = |stable: i64, canary: i64| {
        move |vs: &Value| {
            let public = destinations(&vs["spec"]["http"][0]);
            public == pair("rev-stable", stable, "rev-canary", canary)
        }
    };
    let public = wait_object(
        &cluster,
        &virtual_services(),
        "rev-public",
        "70/30",
        weights(70, 30),
    )
    .await;
    assert_eq!(
        public["spec"]["http"][1],
        json!({ "name": "static", "route": [{ "destination": { "host": "static" } }] }),
        "a route the rollout does not name is left alone"
    );
    let internal = read(&cluster, &virtual_services(), "rev-internal").await;
    assert_eq!(
        destinations(&internal["spec"]["tls"][0]),
        pair(
            "rev-stable.default.svc.cluster.local",
            70,
            "rev-canary.default.svc.cluster.local",
            30
        )
    );

    // Abort: every weight back on stable.
    let api = cluster.api::<Rollout>();
    cli(&cluster, &["abort", "rev"]).await;
    wait_for(&api, "rev", LIMIT, "aborted", aborted).await;
    wait_object(
        &cluster,
        &virtual_services(),
        "rev-public",
        "100/0",
        weights(100, 0),
    )
    .await;
    let internal = read(&cluster, &virtual_services(), "rev-internal").await;
    assert_eq!(destinations(&internal["spec"]["tls"][0])[1].1, 0);

    // Retry, then promote in full: all on the new stable.
    cli(&cluster, &["retry", "rev"]).await;
    wait_for(&api, "rev", LIMIT, "paused at 30 again", paused_at(30)).await;
    cli(&cluster, &["promote", "rev", "--full"]).await;
    wait_for(&api, "rev", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    wait_object(
        &cluster,
        &virtual_services(),
        "rev-public",
        "100/0",
        weights(100, 0),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_subsets_follow_the_revisions_and_managed_routes_their_steps() {
    let Some(cluster) = cluster_with_crds(
        "istio-subset",
        &[
            "virtualservices.networking.istio.io.yaml",
            "destinationrules.networking.istio.io.yaml",
        ],
    )
    .await
    else {
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    create(
        &cluster,
        &destination_rules(),
        json!({
            "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
            "metadata": { "name": "rat-dr" },
            "spec": { "host": "ratings", "subsets": [
                { "name": "stable", "labels": { "app": "rat" } },
                { "name": "canary", "labels": { "app": "rat" } } ] }
        }),
    )
    .await;
    create(&cluster, &virtual_services(), json!({
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": { "name": "rat-vs" },
        "spec": { "hosts": ["ratings"], "http": [{ "route": [
            { "destination": { "host": "ratings", "subset": "stable", "port": { "number": 9080 } }, "weight": 100 },
            { "destination": { "host": "ratings", "subset": "canary", "port": { "number": 9080 } }, "weight": 0 } ] }] }
    }))
    .await;
    // Subset-level only: no Services, as Argo Rollouts allows.
    let object = rollout(
        "rat",
        json!({
            "stableService": null, "canaryService": null,
            "trafficRouting": {
                "managedRoutes": [{ "name": "beta" }, { "name": "shadow" }],
                "istio": {
                    "virtualService": { "name": "rat-vs" },
                    "destinationRule": { "name": "rat-dr", "canarySubsetName": "canary", "stableSubsetName": "stable" } } },
            "steps": [
                { "setWeight": 20 },
                { "setMirrorRoute": { "name": "shadow", "percentage": 35,
                    "match": [{ "method": { "exact": "GET" }, "path": { "prefix": "/api/" } }] } },
                { "setHeaderRoute": { "name": "beta",
                    "match": [{ "headerName": "x-beta", "headerValue": { "exact": "yes" } }] } },
                { "pause": {} } ],
        }),
    );
    canary_at(&cluster, "rat", object, 20).await;
    let api = cluster.api::<Rollout>();
    let paused = api.get("rat").await.expect("the rollout");
    let status = paused.status.clone().expect("a status");
    let (stable, canary) = (
        status.stable_rs.clone().expect("stable"),
        status.current_pod_hash.clone().expect("canary"),
    );
    let hash = conductor::platform::kubernetes::HASH_LABEL;
    let pinned = |stable: String, canary: String| {
        move |dr: &Value| {
            dr["spec"]["subsets"][0]["labels"][hash] == json!(stable)
                && dr["spec"]["subsets"][1]["labels"][hash] == json!(canary)
        }
    };
    let dr = wait_object(
        &cluster,
        &destination_rules(),
        "rat-dr",
        "pinned",
        pinned(stable.clone(), canary.clone()),
    )
    .await;
    assert_eq!(
        dr["spec"]["subsets"][0]["labels"]["app"],
        json!("rat"),
        "other labels stay"
    );
    let vs = wait_object(
        &cluster,
        &virtual_services(),
        "rat-vs",
        "with its routes",
        |vs| vs["spec"]["http"].as_array().map(Vec::len) == Some(3),
    )
    .await;
    let http = &vs["spec"]["http"];
    // managedRoutes order: beta, then shadow, then the weighted route.
    assert_eq!(
        http[0],
        json!({ "name": "beta", "match": [{ "headers": { "x-beta": { "exact": "yes" } } }],
                "route": [{ "destination": { "host": "ratings", "port": { "number": 9080 }, "subset": "canary" }, "weight": 100 }] })
    );
    assert_eq!(http[1]["name"], json!("shadow"));
    assert_eq!(
        http[1]["match"],
        json!([{ "method": { "exact": "GET" }, "uri": { "prefix": "/api/" } }])
    );
    assert_eq!(
        http[1]["mirror"],
        json!({ "host": "ratings", "port": { "number": 9080 }, "subset": "canary" })
    );
    assert_eq!(http[1]["mirrorPercentage"], json!({ "value": 35 }));
    assert_eq!(destinations(&http[1]), pair("stable", 80, "canary", 20));
    assert_eq!(destinations(&http[2]), pair("stable", 80, "canary", 20));

    // Abort: the managed routes go, the weight returns to stable.
    let only_weighted = |stable: i64, canary: i64| {
        move |vs: &Value| {
            vs["spec"]["http"].as_array().map(Vec::len) == Some(1)
                && destinations(&vs["spec"]["http"][0]) == pair("stable", stable, "canary", canary)
        }
    };
    cli(&cluster, &["abort", "rat"]).await;
    wait_for(&api, "rat", LIMIT, "aborted", aborted).await;
    wait_object(
        &cluster,
        &virtual_services(),
        "rat-vs",
        "routes removed",
        only_weighted(100, 0),
    )
    .await;

    // Retry brings them back; a full promotion removes them for good.
    cli(&cluster, &["retry", "rat"]).await;
    wait_for(&api, "rat", LIMIT, "paused at 20 again", paused_at(20)).await;
    wait_object(
        &cluster,
        &virtual_services(),
        "rat-vs",
        "routes back",
        |vs| vs["spec"]["http"].as_array().map(Vec::len) == Some(3),
    )
    .await;
    cli(&cluster, &["promote", "rat", "--full"]).await;
    wait_for(&api, "rat", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    wait_object(
        &cluster,
        &virtual_services(),
        "rat-vs",
        "promoted",
        only_weighted(100, 0),
    )
    .await;
    wait_object(
        &cluster,
        &destination_rules(),
        "rat-dr",
        "both on the new revision",
        pinned(canary.clone(), canary),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smi_traffic_split_is_created_owned_and_weighted() {
    let Some(cluster) = cluster_with_crds("smi", &["trafficsplits.split.smi-spec.io.yaml"]).await
    else {
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    role_services(&cluster, "sm", &["stable", "canary", "root"]).await;
    let object = rollout(
        "sm",
        json!({
            "trafficRouting": { "smi": { "rootService": "sm-root", "trafficSplitName": "sm-split" } },
            "steps": [{ "setWeight": 30 }, { "pause": {} }],
        }),
    );
    canary_at(&cluster, "sm", object, 30).await;
    let split = |canary: i64, stable: i64| {
        move |ts: &Value| {
            ts["spec"]["backends"]
                == json!([{ "service": "sm-canary", "weight": canary }, { "service": "sm-stable", "weight": stable }])
        }
    };
    let ts = wait_object(
        &cluster,
        &traffic_splits(),
        "sm-split",
        "30/70",
        split(30, 70),
    )
    .await;
    assert_eq!(ts["spec"]["service"], json!("sm-root"));
    let owner = &ts["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str()),
        (Some("Rollout"), Some("sm"))
    );
    let api = cluster.api::<Rollout>();
    cli(&cluster, &["abort", "sm"]).await;
    wait_for(&api, "sm", LIMIT, "aborted", aborted).await;
    wait_object(
        &cluster,
        &traffic_splits(),
        "sm-split",
        "0/100",
        split(0, 100),
    )
    .await;
    cli(&cluster, &["retry", "sm"]).await;
    wait_for(&api, "sm", LIMIT, "paused at 30 again", paused_at(30)).await;
    cli(&cluster, &["promote", "sm", "--full"]).await;
    wait_for(&api, "sm", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    wait_object(
        &cluster,
        &traffic_splits(),
        "sm-split",
        "0/100",
        split(0, 100),
    )
    .await;

    // A TrafficSplit someone else made is not taken over.
    services(&cluster, "taken").await;
    create(&cluster, &traffic_splits(), json!({
        "apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
        "metadata": { "name": "taken" },
        "spec": { "service": "taken-stable", "backends": [{ "service": "taken-stable", "weight": 100 }] }
    }))
    .await;
    cluster
        .apply::<Rollout>(rollout(
            "taken",
            json!({
                "trafficRouting": { "smi": {} },
                "steps": [{ "setWeight": 30 }],
            }),
        ))
        .await;
    wait_for(&api, "taken", LIMIT, "invalid, naming the TrafficSplit", |r| {
        r.status.as_ref().and_then(|s| s.message.as_deref()).is_some_and(|m| {
            m.contains("spec.strategy.canary.trafficRouting.smi.trafficSplitName: TrafficSplit taken exists and this rollout does not own it")
        })
    })
    .await;
    let untouched = read(&cluster, &traffic_splits(), "taken").await;
    assert_eq!(untouched["spec"]["backends"][0]["weight"], json!(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_api_plugin_weights_http_and_grpc_routes_with_header_and_mirror_rules() {
    let Some(cluster) = cluster_with_crds(
        "gateway-plugin",
        &[
            "httproutes.gateway.networking.k8s.io.yaml",
            "grpcroutes.gateway.networking.k8s.io.yaml",
        ],
    )
    .await
    else {
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "gwp").await;
    create(&cluster, &http_routes(), json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": { "name": "gwp-web" },
        "spec": { "rules": [{
            "matches": [{ "path": { "type": "PathPrefix", "value": "/" } }],
            "backendRefs": [{ "name": "gwp-stable", "port": 80 }, { "name": "gwp-canary", "port": 80 }] }] }
    }))
    .await;
    create(
        &cluster,
        &grpc_routes(),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
            "metadata": { "name": "gwp-grpc" },
            "spec": { "rules": [{ "backendRefs": [{ "name": "gwp-stable", "port": 9090 }] }] }
        }),
    )
    .await;
    let object = rollout(
        "gwp",
        json!({
            "trafficRouting": {
                "managedRoutes": [{ "name": "beta" }, { "name": "shadow" }],
                "plugins": { "argoproj-labs/gatewayAPI": {
                    "httpRoutes": [{ "name": "gwp-web", "useHeaderRoutes": true }],
                    "grpcRoutes": [{ "name": "gwp-grpc" }],
                    "namespace": cluster.namespace } } },
            "steps": [
                { "setWeight": 30 },
                { "setHeaderRoute": { "name": "beta",
                    "match": [{ "headerName": "x-beta", "headerValue": { "exact": "yes" } }] } },
                { "setMirrorRoute": { "name": "shadow", "percentage": 10, "match": [{ "method": { "exact": "GET" } }] } },
                { "pause": {} } ],
        }),
    );
    canary_at(&cluster, "gwp", object, 30).await;
    let web = wait_object(
        &cluster,
        &http_routes(),
        "gwp-web",
        "with managed rules",
        |r| r["spec"]["rules"].as_array().map(Vec::len) == Some(3),
    )
    .await;
    let rules = &web["spec"]["rules"];
    assert_eq!(
        backends(&rules[0]),
        pair("gwp-stable", 70, "gwp-canary", 30)
    );
    assert_eq!(
        rules[1],
        json!({ "name": "beta",
                "matches": [{ "path": { "type": "PathPrefix", "value": "/" },
                              "headers": [{ "name": "x-beta", "type": "Exact", "value": "yes" }] }],
                "filters": [],
                "backendRefs": [{ "group": "", "kind": "Service", "name": "gwp-canary", "port": 80 }] })
    );
    assert_eq!(rules[2]["name"], json!("shadow"));
    assert_eq!(
        rules[2]["filters"],
        json!([{ "type": "RequestMirror", "requestMirror": { "backendRef": { "name": "gwp-canary", "port": 80 }, "percent": 10 } }])
    );
    assert_eq!(
        backends(&rules[2]),
        pair("gwp-stable", 70, "gwp-canary", 30)
    );
    let grpc = read(&cluster, &grpc_routes(), "gwp-grpc").await;
    let grpc_rules = grpc["spec"]["rules"].as_array().expect("rules");
    assert_eq!(
        grpc_rules.len(),
        1,
        "a route without useHeaderRoutes takes none"
    );
    assert_eq!(
        backends(&grpc_rules[0]),
        pair("gwp-stable", 70, "gwp-canary", 30)
    );

    let api = cluster.api::<Rollout>();
    cli(&cluster, &["abort", "gwp"]).await;
    wait_for(&api, "gwp", LIMIT, "aborted", aborted).await;
    let web = wait_object(
        &cluster,
        &http_routes(),
        "gwp-web",
        "back to one rule",
        |r| r["spec"]["rules"].as_array().map(Vec::len) == Some(1),
    )
    .await;
    assert_eq!(
        backends(&web["spec"]["rules"][0]),
        pair("gwp-stable", 100, "gwp-canary", 0)
    );
    let grpc = read(&cluster, &grpc_routes(), "gwp-grpc").await;
    assert_eq!(
        backends(&grpc["spec"]["rules"][0]),
        pair("gwp-stable", 100, "gwp-canary", 0)
    );
    cli(&cluster, &["retry", "gwp"]).await;
    wait_for(&api, "gwp", LIMIT, "paused at 30 again", paused_at(30)).await;
    cli(&cluster, &["promote", "gwp", "--full"]).await;
    wait_for(&api, "gwp", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    let web = wait_object(&cluster, &http_routes(), "gwp-web", "promoted", |r| {
        r["spec"]["rules"].as_array().map(Vec::len) == Some(1)
    })
    .await;
    assert_eq!(
        backends(&web["spec"]["rules"][0]),
        pair("gwp-stable", 100, "gwp-canary", 0)
    );
}

fn alb_action(ingress: &Ingress) -> Option<Value> {
    let text = ingress
        .annotations()
        .get("alb.ingress.kubernetes.io/actions.alb-root")?;
    serde_json::from_str(text).ok()
}

fn alb_weights(action: &Value) -> Vec<(String, i64)> {
    action["ForwardConfig"]["TargetGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                g["ServiceName"].as_str().unwrap_or_default().to_owned(),
                g["Weight"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alb_writes_the_weighted_forward_action_on_each_ingress() {
    let cluster = Cluster::start("alb").await;
    let _controller = cluster.controller("replica-a").await;
    role_services(&cluster, "alb", &["stable", "canary", "root"]).await;
    for name in ["alb-public", "alb-partners"] {
        cluster
            .apply::<Ingress>(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": { "name": name, "annotations": { "alb.ingress.kubernetes.io/scheme": "internet-facing" } },
                "spec": { "rules": [{ "http": { "paths": [{ "path": "/", "pathType": "Prefix",
                    "backend": { "service": { "name": "alb-root", "port": { "name": "use-annotation" } } } }] } }] }
            }))
            .await;
    }
    let object = rollout(
        "alb",
        json!({
            "trafficRouting": { "alb": {
                "ingresses": ["alb-public", "alb-partners"], "servicePort": 80, "rootService": "alb-root",
                "stickinessConfig": { "enabled": true, "durationSeconds": 3600 } } },
            "steps": [{ "setWeight": 30 }, { "pause": {} }],
        }),
    );
    canary_at(&cluster, "alb", object, 30).await;
    let ingresses: Api<Ingress> = cluster.api();
    let wait_weights = |canary: i64, stable: i64| {
        let ingresses = ingresses.clone();
        async move {
            for name in ["alb-public", "alb-partners"] {
                wait_for(&ingresses, name, LIMIT, "weighted", |i| {
                    alb_action(i).is_some_and(|a| {
                        alb_weights(&a) == pair("alb-canary", canary, "alb-stable", stable)
                    })
                })
                .await;
            }
        }
    };
    wait_weights(30, 70).await;
    let public = ingresses.get("alb-public").await.expect("ingress");
    let action = alb_action(&public).expect("the action");
    assert_eq!(action["Type"], json!("forward"));
    assert_eq!(
        action["ForwardConfig"]["TargetGroups"][0]["ServicePort"],
        json!("80")
    );
    assert_eq!(
        action["ForwardConfig"]["TargetGroupStickinessConfig"],
        json!({ "Enabled": true, "DurationSeconds": 3600 })
    );
    assert_eq!(
        public.annotations()["alb.ingress.kubernetes.io/scheme"],
        "internet-facing",
        "the owner's annotations stay"
    );
    let api = cluster.api::<Rollout>();
    cli(&cluster, &["abort", "alb"]).await;
    wait_for(&api, "alb", LIMIT, "aborted", aborted).await;
    wait_weights(0, 100).await;
    cli(&cluster, &["retry", "alb"]).await;
    wait_for(&api, "alb", LIMIT, "paused at 30 again", paused_at(30)).await;
    cli(&cluster, &["promote", "alb", "--full"]).await;
    wait_for(&api, "alb", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    wait_weights(0, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_canaries_every_stable_ingress_with_the_rollouts_annotations() {
    let cluster = Cluster::start("nginx-multi").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "ngx").await;
    for name in ["ngx-a", "ngx-b"] {
        cluster
            .apply::<Ingress>(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": { "name": name },
                "spec": { "rules": [{ "host": format!("{name}.example"), "http": { "paths": [{
                    "path": "/", "pathType": "Prefix",
                    "backend": { "service": { "name": "ngx-stable", "port": { "number": 80 } } } }] } }] }
            }))
            .await;
    }
    let object = rollout(
        "ngx",
        json!({
            "trafficRouting": {
                "maxTrafficWeight": 1000,
                "nginx": {
                    "stableIngresses": ["ngx-a", "ngx-b"],
                    "additionalIngressAnnotations": { "canary-by-header": "X-Canary" },
                    "canaryIngressAnnotations": { "example.com/owner": "web-team" } } },
            "steps": [{ "setWeight": 300 }, { "pause": {} }],
        }),
    );
    canary_at(&cluster, "ngx", object, 300).await;
    let ingresses: Api<Ingress> = cluster.api();
    for stable in ["ngx-a", "ngx-b"] {
        let name = format!("ngx-{stable}-canary");
        let canary = wait_for(&ingresses, &name, LIMIT, "the canary Ingress", |_| true).await;
        let annotations = canary.annotations();
        for (key, value) in [
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "300"),
            ("nginx.ingress.kubernetes.io/canary-weight-total", "1000"),
            ("nginx.ingress.kubernetes.io/canary-by-header", "X-Canary"),
            ("example.com/owner", "web-team"),
        ] {
            assert_eq!(
                annotations.get(key).map(String::as_str),
                Some(value),
                "{name}: {key}"
            );
        }
        let spec = serde_json::to_value(&canary.spec).expect("spec");
        assert_eq!(
            spec.pointer("/rules/0/http/paths/0/backend/service/name"),
            Some(&json!("ngx-canary"))
        );
    }
    // An annotation the rollout stops asking for goes.
    let patch = json!({ "spec": { "strategy": { "canary": { "trafficRouting": { "nginx": {
        "additionalIngressAnnotations": null } } } } } });
    cluster
        .api::<Rollout>()
        .patch("ngx", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch the rollout");
    wait_for(
        &ingresses,
        "ngx-ngx-a-canary",
        LIMIT,
        "without canary-by-header",
        |i| {
            !i.annotations()
                .contains_key("nginx.ingress.kubernetes.io/canary-by-header")
        },
    )
    .await;
    let api = cluster.api::<Rollout>();
    cli(&cluster, &["promote", "ngx", "--full"]).await;
    wait_for(&api, "ngx", LIMIT, "healthy on 3.10", healthy_at("3.10")).await;
    wait_for(&ingresses, "ngx-ngx-b-canary", LIMIT, "at weight 0", |i| {
        i.annotations()
            .get("nginx.ingress.kubernetes.io/canary-weight")
            .map(String::as_str)
            == Some("0")
    })
    .await;
}
