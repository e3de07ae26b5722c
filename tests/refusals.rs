//! Every refusal is visible on the Rollout. What the API server refuses
//! (an invalid ReplicaSet, a forbidden write) or does not serve (a router
//! whose CRD is not installed) reaches the Rollout as a Progressing
//! condition, a Warning Event and the `rollout status` message, and is
//! retried with a doubling interval instead of a hot loop; an object the
//! spec names that is not there yet (a Service, a route, an analysis
//! template, a Secret) is a visible wait that goes on as soon as it comes
//! and fails the rollout only at its progress deadline.
//!
//! Against the in-process fake API server by default; against a real
//! cluster when KUBECONFIG is set, where the parts that need the fake
//! (its audit log, installing a CRD, denying access) say they skip.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/rollouts.rs"]
mod rollouts;
#[path = "support/servers.rs"]
mod servers;

use std::time::Duration;

use cluster::{Cluster, phase, wait_for};
use conductor::crd::analysis::{AnalysisPhase, AnalysisRun};
use conductor::crd::condition::Condition;
use conductor::crd::rollout::Rollout;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use rollouts::{V1, V2, healthy_at, message, replica_sets, services, set_image, with_canary};
use serde_json::{Value, json};
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(30);
/// Sooner than any retry of a blocked rollout (5 s, then longer): an
/// object's arrival, not a retry, moved it.
const AT_ONCE: Duration = Duration::from_secs(3);

/// Two pods, the old ones scaled down a second after a promotion.
fn rollout(name: &str, image: &str, steps: Value) -> Value {
    with_canary(
        rollouts::rollout(name, image, 2, steps),
        json!({ "scaleDownDelaySeconds": 1 }),
    )
}

fn progressing(r: &Rollout) -> Option<Condition> {
    r.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .cloned()
}

fn reason(r: &Rollout) -> String {
    progressing(r).and_then(|c| c.reason).unwrap_or_default()
}

/// `conductor rollout status <name> --watch`, given a second: it does not
/// end well (a wait times out), and it says why.
async fn status_says(cluster: &Cluster, name: &str, expected: &str) {
    let (code, out) = cluster
        .cli(&["status", name, "--watch", "--timeout", "1s"])
        .await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(expected), "no `{expected}` in:\n{out}");
}

fn http_routes() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

/// Gateway API's own HTTPRoute CRD, as `kubectl apply` of its release installs it.
async fn install_http_route_crd(cluster: &Cluster) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/crds/httproutes.gateway.networking.k8s.io.yaml"
    );
    let crd: CustomResourceDefinition =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("the CRD fixture"))
            .expect("a CRD");
    Api::<CustomResourceDefinition>::all(cluster.client())
        .patch(
            &crd.name_any(),
            &PatchParams::apply("conductor-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("install the HTTPRoute CRD");
}

async fn create_route(cluster: &Cluster, name: &str) {
    let routes: Api<DynamicObject> =
        Api::namespaced_with(cluster.client(), &cluster.namespace, &http_routes());
    let route: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "name": name },
        "spec": { "rules": [{ "backendRefs": [{ "name": format!("{name}-stable"), "port": 80 }] }] }
    }))
    .expect("a route");
    routes
        .create(&Default::default(), &route)
        .await
        .expect("create the route");
}

/// Waits until the rollout's message no longer names `awaited`, failing
/// unless that happens within `limit`; returns how long it took.
async fn moved_on(cluster: &Cluster, name: &str, awaited: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    wait_for(
        &cluster.api::<Rollout>(),
        name,
        limit,
        &format!("past its wait for {awaited}"),
        |r| !message(r).contains(awaited),
    )
    .await;
    start.elapsed()
}

/// Argo Rollouts' e2e "malformed rollout": a resource quantity that does
/// not parse. The API server refuses the ReplicaSet (400); the Rollout
/// says so (Argo's `ReplicaSetCreateError`), tries again after 5 s, 5 s,
/// 10 s..., and a fixed spec goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_set_the_api_server_refuses_is_reported_and_retried_with_backoff() {
    let cluster = Cluster::start("malformed").await;
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "malformed").await;
    let mut malformed = rollout("malformed", V1, json!([{ "setWeight": 50 }]));
    malformed["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({ "requests": { "cpu": "notaquantity" } });
    cluster.apply::<Rollout>(malformed).await;
    let api = cluster.api::<Rollout>();
    let refused = wait_for(&api, "malformed", LIMIT, "reporting the refusal", |r| {
        reason(r) == "ReplicaSetCreateError"
    })
    .await;
    let condition = progressing(&refused).expect("a Progressing condition");
    assert_eq!(condition.status.as_str(), "False");
    let text = condition.message.unwrap_or_default();
    for part in [
        "the API server refused to create ReplicaSet malformed-",
        "400 BadRequest",
        "quantities must match the regular expression",
    ] {
        assert!(text.contains(part), "no `{part}` in {text}");
    }
    assert!(text.starts_with("ReplicaSetCreateError: "), "{text}");
    assert_eq!(phase(&refused), "Progressing", "waiting, not failed yet");
    assert_eq!(message(&refused), text);
    let warning = cluster
        .event("malformed", "ReplicaSetCreateError", LIMIT)
        .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    assert_eq!(warning.note.as_deref(), Some(text.as_str()));
    status_says(
        &cluster,
        "malformed",
        "ReplicaSetCreateError: the API server refused",
    )
    .await;
    assert!(replica_sets(&cluster, "malformed").await.is_empty());

    match cluster.fake() {
        Some(fake) => {
            // Every try is one refused apply of the ReplicaSet.
            backs_off(fake, "refused ReplicaSet applies", |a| {
                a.path.contains("/replicasets/malformed-") && a.status == 400
            })
            .await;
        }
        None => eprintln!("SKIPPED: counting the refused requests needs the fake's audit log"),
    }

    let fixed = json!({ "spec": { "template": { "spec": { "containers": [{
        "name": "app", "image": V1, "resources": { "requests": { "cpu": "100m" } }
    }] } } } });
    api.patch("malformed", &PatchParams::default(), &Patch::Merge(&fixed))
        .await
        .expect("fix the quantity");
    let healthy = wait_for(&api, "malformed", LIMIT, "healthy once fixed", |r| {
        healthy_at("3.9")(r) && reason(r) != "ReplicaSetCreateError"
    })
    .await;
    assert!(!message(&healthy).contains("refused"), "{healthy:?}");
    assert_eq!(replica_sets(&cluster, "malformed").await.len(), 1);
}

/// Watches the tries the audit log holds (`refused` picks them) for 22 s
/// from the first: they come 5 s, 5 s, 10 s apart, doubling, not in a
/// hot loop.
async fn backs_off(
    fake: &fakeapi::FakeApi,
    what: &str,
    refused: impl Fn(&fakeapi::AuditEntry) -> bool,
) {
    let tries = || -> Vec<jiff::Timestamp> {
        fake.audit()
            .iter()
            .filter(|a| refused(a))
            .map(|a| a.time)
            .collect()
    };
    let first = *tries().first().expect("a refused try");
    let watch_until = first
        .checked_add(jiff::SignedDuration::from_secs(22))
        .expect("a time");
    let wait = watch_until.duration_since(jiff::Timestamp::now());
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
    let times = tries();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs_f64())
        .collect();
    eprintln!(
        "{what} in the first 22 s: {}, seconds apart: {gaps:.1?}",
        times.len()
    );
    assert!(
        (3..=6).contains(&times.len()),
        "tries: {} ({gaps:.1?})",
        times.len()
    );
    let last = gaps.last().copied().unwrap_or_default();
    assert!(
        last >= 9.0,
        "the interval doubles (5 s, 5 s, 10 s...): {gaps:.1?}"
    );
}

/// A rollout routed through an HTTPRoute on a cluster without Gateway
/// API: the reads answer `404 page not found`, the Rollout says the API
/// is not served (no hot loop of reads), and installing the CRD and the
/// route lets it go on with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_whose_api_is_not_installed_is_reported_until_it_is() {
    let cluster = Cluster::start("unserved").await;
    let Some(fake) = cluster.fake() else {
        eprintln!(
            "SKIPPED: installs the Gateway API CRD mid-test, which only the fake API server gets"
        );
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    services(&cluster, "gw").await;
    let reads = fake.count_requests("/httproutes/gw");
    let mut gw = rollout("gw", V1, json!([{ "setWeight": 50 }]));
    gw["spec"]["strategy"]["canary"]["trafficRouting"] =
        json!({ "gatewayAPI": { "httpRoute": "gw" } });
    cluster.apply::<Rollout>(gw).await;
    let api = cluster.api::<Rollout>();
    let refused = wait_for(&api, "gw", LIMIT, "reporting the missing API", |r| {
        reason(r) == "ApiNotServed"
    })
    .await;
    let text = message(&refused);
    assert!(
        text.starts_with(&format!(
            "ApiNotServed: cannot get HTTPRoute gw in namespace {}: \
             the API server does not serve HTTPRoute objects (404 page not found); \
             is their CRD installed?",
            cluster.namespace
        )),
        "{text}"
    );
    assert_eq!(
        progressing(&refused).map(|c| c.status.as_str().to_owned()),
        Some("False".to_owned())
    );
    let warning = cluster.event("gw", "ApiNotServed", LIMIT).await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    status_says(&cluster, "gw", "does not serve HTTPRoute objects").await;

    let before = reads.get();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let during = reads.get() - before;
    eprintln!("reads of HTTPRoute gw in 12 s while its API is not served: {during}");
    assert!(during <= 3, "{during} reads in 12 s: not backing off");

    install_http_route_crd(&cluster).await;
    create_route(&cluster, "gw").await;
    wait_for(
        &api,
        "gw",
        LIMIT,
        "healthy with its route",
        healthy_at("3.9"),
    )
    .await;
}

/// A Rollout applied a moment before the Services and HTTPRoute it names
/// (as `kubectl apply -f` of a rendered chart does) waits for them,
/// visibly, changing nothing, and goes on as each one comes: no restart,
/// no touch, and sooner than any retry would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_applied_before_its_services_and_route_waits_for_them() {
    let cluster = Cluster::start("early").await;
    let _controller = cluster.controller("replica-a").await;
    let routed = cluster.fake().is_some();
    let mut early = rollout("early", V1, json!([{ "setWeight": 50 }]));
    if routed {
        install_http_route_crd(&cluster).await;
        early["spec"]["strategy"]["canary"]["trafficRouting"] =
            json!({ "gatewayAPI": { "httpRoute": "early" } });
    } else {
        eprintln!(
            "SKIPPED: the HTTPRoute part (Gateway API may not be installed on a real cluster)"
        );
    }
    cluster.apply::<Rollout>(early).await;
    let api = cluster.api::<Rollout>();
    let waiting = wait_for(&api, "early", LIMIT, "waiting for its Services", |r| {
        reason(r) == "WaitingForReference"
    })
    .await;
    assert_eq!(
        message(&waiting),
        format!(
            "waiting for Service early-stable in namespace {} (named by spec.strategy.canary.stableService): not found",
            cluster.namespace
        )
    );
    assert_eq!(phase(&waiting), "Progressing", "a wait, not a failure");
    assert_eq!(
        progressing(&waiting).map(|c| c.status.as_str().to_owned()),
        Some("True".to_owned())
    );
    let noted = cluster.event("early", "WaitingForReference", LIMIT).await;
    assert_eq!(noted.type_.as_deref(), Some("Normal"));
    status_says(&cluster, "early", "waiting for Service early-stable").await;
    // Past the first retries, so only the Services' arrival can move it
    // within AT_ONCE.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(
        replica_sets(&cluster, "early").await.is_empty(),
        "nothing applied while waiting"
    );
    let still = api.get("early").await.expect("the rollout");
    assert_eq!(reason(&still), "WaitingForReference");

    services(&cluster, "early").await;
    let took = moved_on(&cluster, "early", "Service early-", AT_ONCE).await;
    eprintln!(
        "went on {:.2} s after its Services came",
        took.as_secs_f64()
    );
    if routed {
        let waiting = api.get("early").await.expect("the rollout");
        assert!(
            message(&waiting).starts_with("waiting for HTTPRoute early"),
            "{waiting:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        create_route(&cluster, "early").await;
        let took = moved_on(&cluster, "early", "HTTPRoute early", AT_ONCE).await;
        eprintln!(
            "went on {:.2} s after its HTTPRoute came",
            took.as_secs_f64()
        );
    }
    wait_for(&api, "early", LIMIT, "healthy", healthy_at("3.9")).await;
}

/// A web metric that passes only with the token.
async fn token_source() -> servers::Stub {
    servers::Stub::start(servers::handler(|request: servers::Request| async move {
        if request.header("authorization") == Some("Bearer s3cret") {
            servers::Response::new(200, r#"{"errorRate": 0.01}"#)
        } else {
            servers::Response::new(401, "who are you?")
        }
    }))
    .await
}

async fn authorized_template(cluster: &Cluster, name: &str, url: &str) {
    cluster
        .apply::<conductor::crd::analysis::AnalysisTemplate>(json!({
            "apiVersion": "conductor.dev/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": { "name": name },
            "spec": {
                "args": [{ "name": "token" }],
                "metrics": [{
                    "name": "error-rate",
                    "successCondition": "result < 0.05",
                    "provider": { "web": {
                        "url": format!("{url}/rate"),
                        "headers": [{ "key": "Authorization", "value": "Bearer {{args.token}}" }],
                        "jsonPath": "{$.errorRate}"
                    } }
                }]
            }
        }))
        .await;
}

/// An analysis template and a Secret a rollout names before they exist:
/// the rollout waits for the template (and goes on when it comes), the
/// analysis run for the Secret (and measures once it is there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_analysis_template_and_secret_are_waited_for() {
    let cluster = Cluster::start("refs").await;
    let _controller = cluster.controller("replica-a").await;
    let source = token_source().await;
    services(&cluster, "vault").await;
    let steps = json!([{ "analysis": {
        "templates": [{ "templateName": "authorized-later" }],
        "args": [{ "name": "token", "valueFrom": { "secretKeyRef": { "name": "token-later", "key": "token" } } }]
    } }]);
    cluster.apply::<Rollout>(rollout("vault", V1, steps)).await;
    let api = cluster.api::<Rollout>();
    let waiting = wait_for(&api, "vault", LIMIT, "waiting for its template", |r| {
        reason(r) == "WaitingForReference"
    })
    .await;
    assert_eq!(
        message(&waiting),
        "waiting for AnalysisTemplate authorized-later \
         (named by spec.strategy.canary.steps[0].analysis.templates[0].templateName): not found"
    );
    assert!(replica_sets(&cluster, "vault").await.is_empty());
    tokio::time::sleep(Duration::from_secs(6)).await;
    authorized_template(&cluster, "authorized-later", &source.url()).await;
    let took = moved_on(
        &cluster,
        "vault",
        "AnalysisTemplate authorized-later",
        AT_ONCE,
    )
    .await;
    eprintln!(
        "went on {:.2} s after its template came",
        took.as_secs_f64()
    );
    wait_for(&api, "vault", LIMIT, "healthy on 3.9", healthy_at("3.9")).await;

    // The next revision's analysis run needs the Secret, not there yet.
    set_image(&cluster, "vault", V2).await;
    let waiting = wait_for(&api, "vault", LIMIT, "waiting for the Secret", |r| {
        message(r).contains("waiting for Secret token-later")
    })
    .await;
    assert_eq!(phase(&waiting), "Progressing", "{waiting:?}");
    let expected = format!(
        "waiting for Secret token-later in namespace {} (named by spec.args[0].valueFrom.secretKeyRef.name): not found",
        cluster.namespace
    );
    assert!(
        message(&waiting).ends_with(&expected),
        "{}",
        message(&waiting)
    );
    let runs: Api<AnalysisRun> = cluster.api();
    let run = runs
        .list(&ListParams::default())
        .await
        .expect("runs")
        .items
        .remove(0);
    let status = run.status.clone().expect("a run status");
    assert_eq!(status.phase, Some(AnalysisPhase::Pending));
    assert_eq!(status.message.as_deref(), Some(expected.as_str()));
    cluster
        .event(&run.name_any(), "WaitingForReference", LIMIT)
        .await;
    status_says(&cluster, "vault", "waiting for Secret token-later").await;

    cluster
        .apply::<Secret>(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": "token-later" },
            "stringData": { "token": "s3cret" }
        }))
        .await;
    wait_for(
        &api,
        "vault",
        LIMIT,
        "promoted after the analysis",
        healthy_at("3.10"),
    )
    .await;
    let run = runs.get(&run.name_any()).await.expect("the run");
    assert_eq!(
        run.status.and_then(|s| s.phase),
        Some(AnalysisPhase::Successful)
    );
}

/// A reference still missing when the progress deadline passes fails the
/// rollout, visibly, and the object's arrival still recovers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_missing_at_the_progress_deadline_fails_the_rollout() {
    let cluster = Cluster::start("deadline").await;
    let _controller = cluster.controller("replica-a").await;
    let mut late = rollout("late", V1, json!([{ "setWeight": 50 }]));
    late["spec"]["progressDeadlineSeconds"] = json!(3);
    cluster.apply::<Rollout>(late).await;
    let api = cluster.api::<Rollout>();
    let failed = wait_for(&api, "late", LIMIT, "failed at its deadline", |r| {
        phase(r) == "Degraded"
    })
    .await;
    let waited = format!(
        "waiting for Service late-stable in namespace {} (named by spec.strategy.canary.stableService): not found",
        cluster.namespace
    );
    assert_eq!(
        message(&failed),
        format!("progress deadline exceeded: no progress for 3s; {waited}")
    );
    let condition = progressing(&failed).expect("a Progressing condition");
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
    let warning = cluster
        .event("late", "ProgressDeadlineExceeded", LIMIT)
        .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let (code, out) = cluster
        .cli(&["status", "late", "--watch", "--timeout", "5s"])
        .await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Degraded") && out.contains(&waited), "{out}");

    services(&cluster, "late").await;
    wait_for(
        &api,
        "late",
        LIMIT,
        "healthy once its Services came",
        healthy_at("3.9"),
    )
    .await;
}

/// The `authorized` template, the Secret `token` its argument comes
/// from, and the token source it measures; with the steps of a rollout
/// analysed by it.
async fn authorized_analysis(cluster: &Cluster) -> (servers::Stub, Value) {
    let source = token_source().await;
    authorized_template(cluster, "authorized", &source.url()).await;
    cluster
        .apply::<Secret>(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": "token" },
            "stringData": { "token": "s3cret" }
        }))
        .await;
    let steps = json!([{ "analysis": {
        "templates": [{ "templateName": "authorized" }],
        "args": [{ "name": "token", "valueFrom": { "secretKeyRef": { "name": "token", "key": "token" } } }]
    } }]);
    (source, steps)
}

/// Writes the controller may not make (RBAC): a Service's selector, an
/// AnalysisRun. Each is reported with the server's answer until access
/// is granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_writes_are_reported_until_they_are_allowed() {
    let cluster = Cluster::start("forbidden").await;
    let Some(fake) = cluster.fake() else {
        eprintln!("SKIPPED: taking access away needs the fake API server");
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    let (_source, steps) = authorized_analysis(&cluster).await;
    services(&cluster, "locked").await;
    let operator = cluster.operator_user();
    let deny = |group: &str, resource: &str| fakeapi::AccessRule {
        identity: Some(operator.clone()),
        verbs: vec!["patch".into()],
        group: group.into(),
        resource: Some(resource.into()),
        namespace: None,
    };
    fake.deny(deny("", "services"));
    cluster.apply::<Rollout>(rollout("locked", V1, steps)).await;
    let api = cluster.api::<Rollout>();
    let refused = wait_for(
        &api,
        "locked",
        LIMIT,
        "reporting the forbidden patch",
        |r| reason(r) == "ApiRefused",
    )
    .await;
    let text = message(&refused);
    assert!(
        text.starts_with("ApiRefused: the API server refused to update Service locked-"),
        "{text}"
    );
    assert!(text.contains("403 Forbidden"), "{text}");
    let warning = cluster.event("locked", "ApiRefused", LIMIT).await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    fake.allow_all();
    wait_for(
        &api,
        "locked",
        LIMIT,
        "healthy once allowed",
        healthy_at("3.9"),
    )
    .await;

    fake.deny(deny("conductor.dev", "analysisruns"));
    set_image(&cluster, "locked", V2).await;
    let refused = wait_for(&api, "locked", LIMIT, "reporting the forbidden run", |r| {
        reason(r) == "ApiRefused"
    })
    .await;
    let text = message(&refused);
    assert!(
        text.starts_with("ApiRefused: the API server refused to create AnalysisRun locked-"),
        "{text}"
    );
    fake.allow_all();
    wait_for(
        &api,
        "locked",
        LIMIT,
        "promoted once allowed",
        healthy_at("3.10"),
    )
    .await;
}

/// A refusal that holds no rollout: the AnalysisRun's own status write,
/// forbidden. The run cannot say so in its status, so the refusal is a
/// Warning Event on the run, tried again after 5 s, 5 s, 10 s... (not
/// every few seconds for ever), and the run measures on once allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_analysis_run_status_write_is_a_warning_on_the_run() {
    let cluster = Cluster::start("run-status").await;
    let Some(fake) = cluster.fake() else {
        eprintln!("SKIPPED: taking access away needs the fake API server");
        return;
    };
    let _controller = cluster.controller("replica-a").await;
    let (_source, steps) = authorized_analysis(&cluster).await;
    services(&cluster, "muted").await;
    cluster.apply::<Rollout>(rollout("muted", V1, steps)).await;
    let api = cluster.api::<Rollout>();
    wait_for(&api, "muted", LIMIT, "healthy", healthy_at("3.9")).await;

    fake.deny(fakeapi::AccessRule {
        identity: Some(cluster.operator_user()),
        verbs: vec!["patch".into()],
        group: "conductor.dev".into(),
        resource: Some("analysisruns/status".into()),
        namespace: None,
    });
    set_image(&cluster, "muted", V2).await;
    let runs: Api<AnalysisRun> = cluster.api();
    let start = Instant::now();
    let run = loop {
        let listed = runs.list(&ListParams::default()).await.expect("runs");
        if let Some(run) = listed.items.into_iter().next() {
            break run.name_any();
        }
        assert!(start.elapsed() < LIMIT, "no analysis run made");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let warning = cluster.event(&run, "ApiRefused", LIMIT).await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.unwrap_or_default();
    let expected = format!(
        "the API server refused to update the status of AnalysisRun {run} in namespace {}: 403 Forbidden",
        cluster.namespace
    );
    assert!(note.starts_with(&expected), "{note}");

    let status_path = format!("/analysisruns/{run}/status");
    backs_off(fake, "refused status writes", |a| {
        a.path.ends_with(&status_path) && a.status == 403
    })
    .await;

    fake.allow_all();
    wait_for(
        &api,
        "muted",
        Duration::from_secs(60),
        "promoted once allowed",
        healthy_at("3.10"),
    )
    .await;
    let measured = runs.get(&run).await.expect("the run");
    assert_eq!(
        measured.status.and_then(|s| s.phase),
        Some(AnalysisPhase::Successful)
    );
}
