//! The dashboard in a real browser: Debian's headless Chromium driven
//! through chromedriver (WebDriver), against the in-process fake API
//! server with the controller running (or the cluster in KUBECONFIG) and
//! a real ledger repository. The front page shows the matrix, a rollout
//! page follows the rollout as it advances without a reload, and Promote,
//! reached and confirmed with the keyboard alone and given the token,
//! moves the rollout a step. Screenshots of both pages go to
//! `target/screenshots/`, and to `docs/` (shown in README) when
//! `CONDUCTOR_UPDATE_SCREENSHOTS=1`.
//!
//! Chromium and chromedriver come from Debian (`chromium`,
//! `chromium-driver`; `.ci/run` installs them). Every process the test
//! starts (chromedriver, and the browser processes under it) is stopped
//! by its PID when the test ends, passed or failed.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/dashboard.rs"]
mod dashboard;
#[path = "support/rollouts.rs"]
mod rollouts;
#[path = "support/servers.rs"]
mod servers;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cluster::{Cluster, wait_for};
use conductor::crd::rollout::Rollout;
use conductor::engine::Request;
use conductor::platform::kubernetes::requests::encode;
use conductor::platform::kubernetes::writes;
use dashboard::{
    LIMIT, Repos, Served, TOKEN, paused_at, rollout_path, rollout_paused_at_first_pause,
};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Exactly the flags the issue asks for; the profile directory is added.
const FLAGS: [&str; 7] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

/// chromedriver on a free loopback port, with a fresh browser profile.
/// Dropping it stops the browser processes under it and then it, each by
/// PID.
struct Driver {
    process: Option<servers::Process>,
    port: u16,
    profile: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: install Debian's chromium and chromium-driver (as .ci/run does)"
            );
        }
        let port = servers::free_port();
        let process = servers::Process::spawn(
            "chromedriver",
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1"),
        );
        servers::wait_ready(
            &format!("http://127.0.0.1:{port}/status"),
            Duration::from_secs(20),
        )
        .await;
        Driver {
            process: Some(process),
            port,
            profile: tempfile::tempdir().expect("a browser profile directory"),
        }
    }

    async fn browser(&self) -> Client {
        let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", self.profile.path().display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("chromedriver starts a headless chromium")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        // The browser's processes, found by parentage before their parent
        // goes; each is stopped by its own PID.
        let browser = descendants(process.pid());
        drop(process);
        for pid in browser {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    }
}

/// Every process under `root`, children first found first.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parens.
            let after = &stat[stat.rfind(')')? + 1..];
            let ppid: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        index += 1;
    }
    found.remove(0);
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_matrix_shows_a_rollout_follows_live_and_promote_moves_it_a_step() {
    let cluster = Cluster::start("dashboard-browser").await;
    let _controller = cluster.controller("replica-a").await;
    let source = dashboard::metric_source().await;
    rollout_paused_at_first_pause(&cluster, &format!("{}/rate", source.url())).await;
    let repos = Repos::with(&cluster.namespace, None, false);
    let served = Served::start(&repos, Some(&cluster), true).await;

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let outcome = AssertUnwindSafe(scenario(&browser, &served, &cluster))
        .catch_unwind()
        .await;
    // The session's end closes the browser; the driver's drop makes sure.
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(browser: &Client, served: &Served, cluster: &Cluster) {
    browser
        .set_window_size(1280, 1100)
        .await
        .expect("window size");

    // The front page: the matrix, what needs attention first.
    browser
        .goto(&served.url("/"))
        .await
        .expect("open the front page");
    let cells = browser
        .find_all(Locator::Css("li.cell[data-cluster]"))
        .await
        .expect("cells");
    assert_eq!(cells.len(), 4, "one cell per cluster");
    for (cluster, state) in [
        ("eu-west-1", "Healthy"),
        ("us-east-1", "Deploying"),
        ("ap-southeast-1", "Failed"),
    ] {
        let cell = browser
            .find(Locator::Css(&format!(
                r#"li.cell[data-cluster="{cluster}"]"#
            )))
            .await
            .expect("the cluster's cell");
        let text = cell.text().await.expect("its text");
        assert!(text.contains(state), "{cluster}: {text}");
    }
    let attention = browser
        .find(Locator::Css(".attention h2"))
        .await
        .expect("the attention list")
        .text()
        .await
        .unwrap();
    assert_eq!(attention, "Needs attention (2)");
    save_screenshot(browser, "dashboard-front.png", true).await;

    fits_a_phone(browser, "dashboard-front-narrow.png").await;

    // The rollout page, live: it follows the rollout without a reload.
    browser
        .goto(&served.url(&rollout_path()))
        .await
        .expect("open the rollout page");
    wait_text(browser, "#live-state", "Live: updated").await;
    assert_eq!(step_shown(browser).await, "2");
    browser
        .execute("window.notReloaded = true;", vec![])
        .await
        .expect("mark the page");
    let api = cluster.api::<Rollout>();
    writes::request_action(&api, dashboard::ROLLOUT, &encode(Request::Promote, "cli-1"))
        .await
        .expect("promote from the side");
    wait_until(browser, "the page shows step 4", || async {
        step_shown(browser).await == "4"
    })
    .await;
    let kept = browser
        .execute("return window.notReloaded === true;", vec![])
        .await
        .expect("read the mark");
    assert_eq!(
        kept,
        json!(true),
        "the page was updated in place, not reloaded"
    );
    // Tall enough for the analysis chart and the Events.
    browser
        .set_window_size(1280, 2300)
        .await
        .expect("window size");
    save_screenshot(browser, "dashboard-rollout.png", true).await;
    fits_a_phone(browser, "dashboard-rollout-narrow.png").await;

    // Promote with the keyboard alone: Tab to it, Enter, type the token, Enter.
    let mut reached = false;
    for _ in 0..40 {
        browser
            .active_element()
            .await
            .expect("the focused element")
            .send_keys(&Key::Tab.to_string())
            .await
            .expect("press Tab");
        let focused = browser.active_element().await.expect("focus").text().await;
        if focused.ok().as_deref() == Some("Promote…") {
            reached = true;
            break;
        }
    }
    assert!(reached, "Promote is not reachable with Tab");
    browser
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("press Enter");
    let token = browser
        .wait()
        .at_most(LIMIT)
        .for_element(Locator::Css("input#token"))
        .await
        .expect("the confirmation asks for the token");
    let heading = browser
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "Promote rollout shop?");
    let focused = browser.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap(),
        token.attr("id").await.unwrap(),
        "the token field has the focus"
    );
    focused
        .send_keys(&format!("{TOKEN}{}", Key::Enter))
        .await
        .expect("type the token and confirm");
    wait_text(browser, ".notice", "Promote requested and acknowledged").await;
    wait_for(
        &api,
        dashboard::ROLLOUT,
        LIMIT,
        "paused at step 6",
        paused_at(6),
    )
    .await;
    wait_until(browser, "the page shows step 6", || async {
        step_shown(browser).await == "6"
    })
    .await;
}

/// On a phone-sized window nothing is wider than the window, so nothing
/// scrolls sideways; the window is put back to desktop size after.
async fn fits_a_phone(browser: &Client, screenshot: &str) {
    browser
        .set_window_size(390, 900)
        .await
        .expect("window size");
    let fits = browser
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .expect("measure the page");
    save_screenshot(browser, screenshot, false).await;
    assert_eq!(fits, json!(true), "the page scrolls sideways on a phone");
    browser
        .set_window_size(1280, 1100)
        .await
        .expect("window size");
}

/// The step index the live section shows.
async fn step_shown(browser: &Client) -> String {
    match browser.find(Locator::Css("#live dd[data-step]")).await {
        Ok(element) => element
            .attr("data-step")
            .await
            .ok()
            .flatten()
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn wait_text(browser: &Client, css: &str, wanted: &str) {
    wait_until(browser, &format!("`{css}` says `{wanted}`"), || async {
        match browser.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default().contains(wanted),
            Err(_) => false,
        }
    })
    .await;
}

async fn wait_until<F, Fut>(browser: &Client, what: &str, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        if start.elapsed() > LIMIT {
            let page = browser.source().await.unwrap_or_default();
            panic!("not {what} after {LIMIT:?}; the page:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Into `target/screenshots/`, and into `docs/` too for the README's
/// pictures when asked to.
async fn save_screenshot(browser: &Client, name: &str, for_readme: bool) {
    let png = browser.screenshot().await.expect("a screenshot");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut places = vec![root.join("target/screenshots")];
    if for_readme && std::env::var_os("CONDUCTOR_UPDATE_SCREENSHOTS").is_some() {
        places.push(root.join("docs"));
    }
    for dir in places {
        std::fs::create_dir_all(&dir).expect("a screenshot folder");
        let path: PathBuf = dir.join(name);
        std::fs::write(&path, &png).expect("save the screenshot");
        eprintln!("screenshot: {}", path.display());
    }
}
