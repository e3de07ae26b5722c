//! `conductor dashboard`'s pages, each through HTTP as a browser asks for
//! it: the front page and a cluster's history from a real ledger
//! repository, the commits between revisions from a real source
//! repository, a rollout's page and its live stream against a cluster
//! (the in-process fake API server with the controller running, or the
//! cluster in KUBECONFIG), and the actions with and without a token.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/dashboard.rs"]
mod dashboard;
#[path = "support/rollouts.rs"]
mod rollouts;
#[path = "support/servers.rs"]
mod servers;

use std::time::Duration;

use cluster::{Cluster, wait_for};
use conductor::crd::rollout::Rollout;
use conductor::engine::Request;
use conductor::platform::kubernetes::requests::encode;
use conductor::platform::kubernetes::writes;
use dashboard::{
    HOSTILE, LIMIT, LIVE_CLUSTER, Repos, Served, TOKEN, USER, http, metric_source, paused_at,
    rollout_path, rollout_paused_at_first_pause,
};
use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = http().get(url).send().await.expect("the dashboard answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("a body"))
}

/// The confirmation form, submitted as a browser submits it.
async fn post_token(url: &str, token: &str) -> reqwest::Response {
    let body: String = token
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={body}"))
        .send()
        .await
        .expect("an answer")
}

/// Nothing a user wrote reaches the page unescaped.
fn assert_escaped(body: &str) {
    assert!(!body.contains(HOSTILE), "unescaped markup in:\n{body}");
    assert!(
        !body.contains("<script>alert"),
        "unescaped markup in:\n{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_page_is_the_ledgers_matrix_with_what_needs_attention_first() {
    let repos = Repos::new("shop", None);
    let served = Served::start(&repos, None, false).await;
    let (status, headers, body) = get(&served.url("/")).await;
    assert_eq!(status, 200, "{body}");
    for (cluster, state) in [
        ("eu-west-1", "Healthy"),
        ("us-east-1", "Deploying"),
        ("ap-southeast-1", "Failed"),
        ("staging-eu", "Healthy"),
    ] {
        let cell = format!(r#"data-cluster="{cluster}" data-state="{state}""#);
        assert!(body.contains(&cell), "no {cell} in:\n{body}");
    }
    // Mid-deploy and failed clusters are listed first, in words.
    let attention = body.find("Needs attention (2)").expect("an attention list");
    assert!(attention < body.find(r#"data-cluster="eu-west-1""#).unwrap());
    assert!(body.contains("Wants <code"), "{body}");
    // The changes since the previous revision, rendered by the dashboard.
    let [first, second, third] = [&repos.commits[0], &repos.commits[1], &repos.commits[2]];
    assert!(
        body.contains(&format!(
            "/services/shop/changes?from={first}&amp;to={third}"
        )),
        "{body}"
    );
    assert!(body.contains(&format!("{} → {}", &first[..7], &third[..7])));
    assert!(body.contains("first deploy"), "staging-eu: {body}");
    assert!(body.contains(&second[..7]));
    assert!(body.contains("analysis failed: error-rate 0.3 &lt;script&gt;"));
    assert_escaped(&body);
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'sha256-") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");

    // With the source repository's compare page in the config, links go there.
    let repos = Repos::new(
        "shop",
        Some("https://git.example.com/acme/shop/compare/{from}...{to}"),
    );
    let served = Served::start(&repos, None, false).await;
    let (_, _, body) = get(&served.url("/")).await;
    let [first, _, third] = [&repos.commits[0], &repos.commits[1], &repos.commits[2]];
    assert!(
        body.contains(&format!(
            r#"href="https://git.example.com/acme/shop/compare/{first}...{third}" rel="noreferrer""#
        )),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clusters_page_has_its_record_rollouts_and_history_from_the_ledger() {
    let repos = Repos::new("shop", None);
    let served = Served::start(&repos, None, false).await;
    let (status, _, body) = get(&served.url("/services/shop/production/eu-west-1")).await;
    assert_eq!(status, 200, "{body}");
    let history = &body[body.find("History").expect("a history")..];
    let states: Vec<&str> = ["Healthy", "Deploying", "Healthy", "Deploying"]
        .into_iter()
        .collect();
    let mut at = 0;
    for state in &states {
        let found = history[at..]
            .find(&format!("</span> {state}</span>"))
            .unwrap_or_else(|| {
                panic!("{state} after {at} in the history, newest first:\n{history}")
            });
        at += found + 1;
    }
    assert_eq!(history.matches("<tr>").count(), 5, "a header and 4 deploys");
    // No client reaches this cluster here: the page says so, and still works.
    assert!(
        body.contains(r#"/rollouts/shop">shop</a>"#) && body.contains("cannot tell"),
        "{body}"
    );
    let (status, _, body) = get(&served.url("/services/shop/production/eu-west-9")).await;
    assert_eq!(status, 404);
    assert!(body.contains("unknown cluster `eu-west-9`"), "{body}");
    assert!(body.contains("did you mean `eu-west-1`?"), "{body}");
    let (status, _, _) = get(&served.url("/services/nope/production/eu-west-1")).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_changes_page_lists_the_commits_between_and_a_step_back_takes_them_away() {
    let repos = Repos::new("shop", None);
    let served = Served::start(&repos, None, false).await;
    let [first, _, third] = [&repos.commits[0], &repos.commits[1], &repos.commits[2]];
    let (status, _, body) =
        get(&served.url(&format!("/services/shop/changes?from={first}&to={third}"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("2 commits, newest first"), "{body}");
    let newest = body.find("Fix &lt;script&gt;").expect("the newest commit");
    let older = body.find("Faster search").expect("the one before");
    assert!(newest < older, "{body}");
    assert!(!body.contains("First release"), "{body}");
    assert_escaped(&body);

    let (_, _, back) =
        get(&served.url(&format!("/services/shop/changes?from={third}&to={first}"))).await;
    assert!(
        back.contains("A step back: these 2 commits are taken away"),
        "{back}"
    );

    let (status, _, body) =
        get(&served.url(&format!("/services/shop/changes?from=HEAD&to={third}"))).await;
    assert_eq!(status, 400);
    assert!(body.contains("`HEAD` is not a full commit sha"), "{body}");
    let unknown = "0".repeat(40);
    let (status, _, body) =
        get(&served.url(&format!("/services/shop/changes?from={unknown}&to={third}"))).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("is not in the source repository"), "{body}");
}

/// The data of the next `update` event on a live stream.
async fn next_update(response: &mut reqwest::Response, buffer: &mut String) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if event.lines().any(|l| l == "event: update") {
                return event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: ").or(l.strip_prefix("data:")))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("an update in time")
            .expect("the stream stays open")
            .expect("the stream does not end");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollouts_page_shows_steps_weight_replica_sets_analysis_and_events_and_streams_changes() {
    let cluster = Cluster::start("dashboard-live").await;
    let _controller = cluster.controller("replica-a").await;
    let source = metric_source().await;
    rollout_paused_at_first_pause(&cluster, &format!("{}/rate", source.url())).await;
    let repos = Repos::new(&cluster.namespace, None);
    let served = Served::start(&repos, Some(&cluster), false).await;

    let (status, _, body) = get(&served.url(&rollout_path())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"data-state="Paused""#), "{body}");
    assert!(body.contains(r#"<dd data-step="2">3 of 7</dd>"#), "{body}");
    assert!(
        body.contains(r#"<li class="step current" aria-current="step"><span aria-hidden="true">▶ </span>Pause until promoted"#),
        "{body}"
    );
    assert!(body.contains(r#"<p data-weight="20">"#), "{body}");
    assert!(
        body.contains("<td data-label=\"Role\">stable</td>"),
        "{body}"
    );
    assert!(
        body.contains("<td data-label=\"Role\">canary</td>"),
        "{body}"
    );
    // The analysis: three measurements plotted against `result < 0.05`.
    assert!(body.contains("success when &lt; 0.05"), "{body}");
    assert_eq!(
        body.matches(r#"<g class="point successful">"#).count(),
        3,
        "{body}"
    );
    assert!(body.contains("The 3 measurements"), "{body}");
    assert!(
        body.contains("<h2 id=\"events-h\">Events</h2><table"),
        "{body}"
    );
    assert!(body.contains("Read-only"), "{body}");
    assert!(!body.contains("/actions/promote"), "{body}");

    // The live stream: the page as it is, then each change as it happens.
    let mut stream = http()
        .get(served.url(&format!("{}/live", rollout_path())))
        .send()
        .await
        .expect("the live stream");
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let first = next_update(&mut stream, &mut buffer).await;
    assert!(first.contains(r#"data-step="2""#), "{first}");
    // Someone promotes with the CLI; the stream shows the next pause.
    let api = cluster.api::<Rollout>();
    writes::request_action(&api, dashboard::ROLLOUT, &encode(Request::Promote, "cli-1"))
        .await
        .expect("ask to promote");
    let mut update = next_update(&mut stream, &mut buffer).await;
    while !update.contains(r#"data-step="4""#) {
        update = next_update(&mut stream, &mut buffer).await;
    }
    assert!(update.contains(r#"<p data-weight="40">"#), "{update}");
    assert!(update.contains(r#"data-state="Paused""#), "{update}");
    drop(stream);

    // A Rollout the cluster does not have.
    let (status, _, body) = get(&served.url(&format!(
        "/services/shop/production/{LIVE_CLUSTER}/rollouts/absent"
    )))
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("No Rollout absent in namespace"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_need_a_token_and_are_recorded_with_who_asked() {
    let cluster = Cluster::start("dashboard-actions").await;
    let _controller = cluster.controller("replica-a").await;
    let source = metric_source().await;
    rollout_paused_at_first_pause(&cluster, &format!("{}/rate", source.url())).await;
    let repos = Repos::new(&cluster.namespace, None);
    let promote = format!("{}/actions/promote", rollout_path());

    // Started without a token file: read-only.
    let read_only = Served::start(&repos, Some(&cluster), false).await;
    let (status, _, body) = get(&read_only.url(&promote)).await;
    assert_eq!(status, 404);
    assert!(body.contains("this dashboard is read-only"), "{body}");
    let response = post_token(&read_only.url(&promote), TOKEN).await;
    assert_eq!(response.status(), 404);

    let served = Served::start(&repos, Some(&cluster), true).await;
    let (_, _, page) = get(&served.url(&rollout_path())).await;
    assert!(page.contains(r#"/actions/promote">Promote…</a>"#), "{page}");
    let (status, _, body) = get(&served.url(&promote)).await;
    assert_eq!(status, 200);
    assert!(body.contains("Promote rollout shop?"), "{body}");
    assert!(
        body.contains(r#"<input type="password" id="token" name="token""#),
        "{body}"
    );
    assert!(body.contains("Yes, promote shop"), "{body}");
    let (status, _, _) = get(&served.url(&format!("{}/actions/undo", rollout_path()))).await;
    assert_eq!(status, 404);

    // A wrong token changes nothing.
    let response = post_token(&served.url(&promote), "not-a-token-of-anyone").await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("that token is not in the dashboard"),
        "{body}"
    );
    assert!(
        !body.contains("not-a-token-of-anyone"),
        "the token is never echoed"
    );
    let api = cluster.api::<Rollout>();
    let unchanged = api.get(dashboard::ROLLOUT).await.unwrap();
    assert!(paused_at(2)(&unchanged), "{:?}", unchanged.status);

    // Ada's token: the request is made, acknowledged, and names her.
    let response = post_token(&served.url(&promote), TOKEN).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("{}?notice=promote-done", rollout_path()));
    let promoted = wait_for(
        &api,
        dashboard::ROLLOUT,
        LIMIT,
        "paused at step 4",
        paused_at(4),
    )
    .await;
    let last = promoted
        .status
        .and_then(|s| s.last_request)
        .unwrap_or_default();
    assert!(
        last.starts_with("promote/") && last.ends_with(&format!("-{USER}")),
        "{last}"
    );
    let events: kube::Api<Event> = cluster.api();
    let recorded: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("PromoteRequested"))
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(
        recorded[0].note.as_deref(),
        Some("ada asked to promote from the dashboard")
    );
    assert_eq!(
        recorded[0].reporting_controller.as_deref(),
        Some("conductor-dashboard")
    );
    let (_, _, after) = get(&served.url(&location)).await;
    assert!(after.contains("Promote requested and acknowledged by the controller."));
    assert!(
        after.contains("PromoteRequested"),
        "the Event is on the page: {after}"
    );
    assert!(!after.contains(TOKEN));

    // Held with `conductor rollout pause`: promote resumes it where it
    // stands, its own pause step included.
    let (code, out) = cluster.cli(&["pause", dashboard::ROLLOUT]).await;
    assert_eq!(code, 0, "{out}");
    let response = post_token(&served.url(&promote), TOKEN).await;
    assert_eq!(response.status(), 303);
    let resumed = wait_for(&api, dashboard::ROLLOUT, LIMIT, "resumed", |r| {
        r.spec.paused == Some(false)
            && r.status.as_ref().and_then(|s| s.observed_generation) == r.metadata.generation
    })
    .await;
    assert!(paused_at(4)(&resumed), "{:?}", resumed.status);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
