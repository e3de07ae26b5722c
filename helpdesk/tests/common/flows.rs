//! Request flows shared by the SQLite and PostgreSQL tests.
#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::server::{Helpdesk, client};

/// The write token the auth flow's server is started with.
pub const TOKEN: &str = "s3cr3t";
/// The version label the metrics flow's server is started with.
pub const VERSION: &str = "v7";
/// The fraction of API requests the faults flow's server answers 500.
pub const ERROR_RATE: f64 = 0.3;

pub async fn post(url: &str, body: Value) -> (StatusCode, Value) {
    let r = client().post(url).json(&body).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

pub async fn get(url: &str) -> (StatusCode, Value) {
    let r = client().get(url).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// The whole ticket life cycle, against a running server.
pub async fn life_cycle(server: &Helpdesk) {
    let u = &server.url;
    let (status, ada) = post(
        &format!("{u}/customers"),
        json!({"name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    let (_, bob) = post(
        &format!("{u}/customers"),
        json!({"name": "Bob", "email": "bob@example.com"}),
    )
    .await;
    let (ada, bob) = (ada["id"].as_i64().unwrap(), bob["id"].as_i64().unwrap());
    let mut ids = Vec::new();
    for i in 0..7 {
        let (customer, channel) = if i % 2 == 0 {
            (ada, "email")
        } else {
            (bob, "chat")
        };
        let (status, t) = post(
            &format!("{u}/tickets"),
            json!({"subject": format!("ticket {i}"), "customer_id": customer, "channel": channel, "body": "it broke", "tags": ["billing"]}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        ids.push(t["id"].as_i64().unwrap());
    }
    let (status, reply) = post(
        &format!("{u}/tickets/{}/messages", ids[0]),
        json!({"author": "agent:zoe", "body": "on it"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let (_, assigned) = post(
        &format!("{u}/tickets/{}/assign", ids[0]),
        json!({"assignee": "zoe"}),
    )
    .await;
    assert_eq!(assigned["assignee"], "zoe");
    let (_, ticket) = get(&format!("{u}/tickets/{}", ids[0])).await;
    assert_eq!(ticket["messages"].as_array().unwrap().len(), 2);
    assert_eq!(ticket["tags"], json!(["billing"]));

    let (status, closed) = post(&format!("{u}/tickets/{}/close", ids[1]), json!({})).await;
    assert_eq!(
        (status, closed["status"].as_str()),
        (StatusCode::OK, Some("closed"))
    );
    let (status, _) = post(&format!("{u}/tickets/{}/close", ids[1]), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "closing twice");

    // Filters and cursor pagination.
    let (_, open_email) = get(&format!("{u}/tickets?status=open&channel=email")).await;
    assert_eq!(open_email["items"].as_array().unwrap().len(), 4);
    let (_, bobs) = get(&format!("{u}/tickets?customer_id={bob}&status=open")).await;
    assert_eq!(bobs["items"].as_array().unwrap().len(), 2, "{bobs}");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_url = match &cursor {
            Some(c) => format!("{u}/tickets?limit=3&cursor={c}"),
            None => format!("{u}/tickets?limit=3"),
        };
        let (_, page) = get(&page_url).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every ticket once, in order");
    let (_, reopened) = post(&format!("{u}/tickets/{}/reopen", ids[1]), json!({})).await;
    assert_eq!(reopened["status"], "open");
    let (_, tags) = get(&format!("{u}/tags")).await;
    assert_eq!(tags, json!([{"tag": "billing", "tickets": 7}]));
    let (_, channels) = get(&format!("{u}/channels")).await;
    assert_eq!(channels, json!(["email", "chat", "sms", "voice"]));
}

/// Writes in flight together, spread over `urls` (replicas of one
/// database): each lands whole or not at all, and a ticket is closed once.
/// Needs a database with no data yet.
pub async fn concurrent_writes(urls: &[&str]) {
    let (status, customer) = post(
        &format!("{}/customers", urls[0]),
        json!({"name": "Cy", "email": "cy@example.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{customer}");
    let customer = customer["id"].as_i64().unwrap();
    let creates: Vec<_> = (0..40)
        .map(|i| {
            let url = format!("{}/tickets", urls[i % urls.len()]);
            // Every third names a customer that does not exist.
            let customer_id = if i % 3 == 0 { 999_999 } else { customer };
            tokio::spawn(async move {
                let body = json!({"subject": format!("c{i}"), "customer_id": customer_id,
                    "channel": "sms", "body": format!("m{i}"), "tags": [format!("t{i}"), "burst"]});
                (i, post(&url, body).await)
            })
        })
        .collect();
    let mut created = Vec::new();
    for create in creates {
        let (i, (status, ticket)) = create.await.unwrap();
        if i % 3 == 0 {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{ticket}");
            assert_eq!(ticket["field"], "customer_id");
        } else {
            assert_eq!(status, StatusCode::CREATED, "{ticket}");
            created.push((i, ticket["id"].as_i64().unwrap()));
        }
    }
    let u = urls[urls.len() - 1];
    for (i, id) in &created {
        let (_, ticket) = get(&format!("{u}/tickets/{id}")).await;
        assert_eq!(ticket["subject"], format!("c{i}"));
        assert_eq!(ticket["tags"], json!(["burst", format!("t{i}")]));
        assert_eq!(ticket["messages"][0]["body"], format!("m{i}"));
    }
    let (_, listed) = get(&format!("{u}/tickets?limit=100")).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), created.len());
    let (_, tags) = get(&format!("{u}/tags")).await;
    assert_eq!(tags[0], json!({"tag": "burst", "tickets": created.len()}));

    let ticket = created[0].1;
    let closes: Vec<_> = (0..16)
        .map(|i| {
            let url = format!("{}/tickets/{ticket}/close", urls[i % urls.len()]);
            tokio::spawn(async move { post(&url, json!({})).await.0 })
        })
        .collect();
    let mut codes = Vec::new();
    for close in closes {
        codes.push(close.await.unwrap());
    }
    let granted = codes.iter().filter(|c| **c == StatusCode::OK).count();
    let refused = codes.iter().filter(|c| **c == StatusCode::CONFLICT).count();
    assert_eq!((granted, refused), (1, 15), "{codes:?}");
}

/// Every kind of bad request, against a running server with no data yet.
pub async fn bad_requests(server: &Helpdesk) {
    let u = &server.url;
    post(
        &format!("{u}/customers"),
        json!({"name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    post(
        &format!("{u}/tickets"),
        json!({"subject": "s", "customer_id": 1, "channel": "sms"}),
    )
    .await;
    let long = "x".repeat(201);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/customers",
            json!({"name": "", "email": "a@b.co"}),
            422,
            "name",
        ),
        (
            "/customers",
            json!({"name": "A", "email": "not-an-email"}),
            422,
            "email",
        ),
        (
            "/customers",
            json!({"name": "A", "email": "ada@example.com"}),
            409,
            "",
        ),
        ("/customers", json!({"name": "A"}), 400, ""),
        (
            "/customers",
            json!({"name": "A", "email": "x@y.z", "age": 3}),
            400,
            "",
        ),
        (
            "/tickets",
            json!({"subject": "  ", "customer_id": 1, "channel": "email"}),
            422,
            "subject",
        ),
        (
            "/tickets",
            json!({"subject": long, "customer_id": 1, "channel": "email"}),
            422,
            "subject",
        ),
        (
            "/tickets",
            json!({"subject": "s", "customer_id": 1, "channel": "fax"}),
            422,
            "channel",
        ),
        (
            "/tickets",
            json!({"subject": "s", "customer_id": 99, "channel": "email"}),
            422,
            "customer_id",
        ),
        (
            "/tickets",
            json!({"subject": "s", "customer_id": -1, "channel": "email"}),
            422,
            "customer_id",
        ),
        (
            "/tickets",
            json!({"subject": "s", "customer_id": 1, "channel": "email", "tags": ["Bad Tag"]}),
            422,
            "tags",
        ),
        (
            "/tickets",
            json!({"subject": "s", "customer_id": "one", "channel": "email"}),
            400,
            "",
        ),
        (
            "/tickets/1/messages",
            json!({"author": "a", "body": ""}),
            422,
            "body",
        ),
        (
            "/tickets/99/messages",
            json!({"author": "a", "body": "b"}),
            404,
            "",
        ),
        (
            "/tickets/abc/messages",
            json!({"author": "a", "body": "b"}),
            422,
            "id",
        ),
        // Percent-escapes that are not UTF-8: the router rejected the path
        // in plain text (found by the `helpdesk_request` fuzz target).
        (
            "/tickets/%FF/messages",
            json!({"author": "a", "body": "b"}),
            422,
            "id",
        ),
        (
            "/tickets/1/assign",
            json!({"assignee": ""}),
            422,
            "assignee",
        ),
        ("/tickets/1/reopen", json!({}), 409, ""),
    ];
    for (path, body, code, field) in cases {
        let (status, answer) = post(&format!("{u}{path}"), body.clone()).await;
        assert_eq!(status.as_u16(), code, "{path} {body}: {answer}");
        assert!(answer["error"].is_string(), "{path}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["field"], field, "{path}: {answer}");
            assert!(
                answer["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{answer}"
            );
        }
    }
    for (query, field) in [
        ("status=pending", "status"),
        ("channel=fax", "channel"),
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("cursor=zzz", "cursor"),
        ("sort=asc", "sort"),
        ("customer_id=x", "customer_id"),
    ] {
        let (status, answer) = get(&format!("{u}/tickets?{query}")).await;
        assert_eq!(
            (status.as_u16(), answer["field"].as_str()),
            (422, Some(field)),
            "{query}: {answer}"
        );
    }
    let (status, answer) = get(&format!("{u}/tickets/%C3%28")).await;
    assert_eq!(
        (status.as_u16(), answer["field"].as_str()),
        (422, Some("id")),
        "{answer}"
    );
    let (status, _) = get(&format!("{u}/tickets/12345")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&format!("{u}/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Not JSON, wrong content type, and a body over the limit.
    let r = client()
        .post(format!("{u}/tickets"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client()
        .post(format!("{u}/tickets"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let huge =
        json!({"subject": "s", "customer_id": 1, "channel": "email", "body": "x".repeat(100_000)});
    let r = client()
        .post(format!("{u}/tickets"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Still serving after all of it.
    let (status, _) = get(&format!("{u}/healthz")).await;
    assert_eq!(status, StatusCode::OK);
}

/// The value of one `http_requests_total` series, 0 when absent.
pub fn count(metrics: &str, route: &str, method: &str, code: &str) -> u64 {
    let needle =
        format!("http_requests_total{{method=\"{method}\",route=\"{route}\",code=\"{code}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn metrics_text(u: &str) -> String {
    let r = client().get(format!("{u}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// Writes need the bearer token, reads and health do not. Starts its own
/// server with the token against `database`, which must hold no customers.
pub async fn auth(database: &str) {
    let server = Helpdesk::start(database, &[("HELPDESK_API_TOKEN", TOKEN)]);
    let u = &server.url;
    // Everything a person or a log collector could read, searched for the
    // token at the end.
    let mut seen = String::new();
    let body = json!({"name": "Ada", "email": "ada@example.com"});
    let (status, answer) = post(&format!("{u}/customers"), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    seen.push_str(&answer.to_string());
    let post_as = |token: String| {
        client()
            .post(format!("{u}/customers"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // Nearly right is still wrong, and the answer does not say how near.
    for wrong in [
        "wrong".to_owned(),
        format!("{TOKEN}x"),
        TOKEN[1..].to_owned(),
    ] {
        let refused = post_as(wrong).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        seen.push_str(&refused.text().await.unwrap());
    }
    let created = post_as(TOKEN.to_owned()).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let ada: Value = created.json().await.unwrap();
    for path in [
        &format!("/customers/{}", ada["id"]),
        "/tickets",
        "/healthz",
        "/readyz",
        "/version",
        "/metrics",
    ] {
        let r = client().get(format!("{u}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        seen.push_str(&r.text().await.unwrap());
    }
    seen.push_str(&server.stop_and_output());
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_helpdesk"))
        .args(["serve", "--help"])
        .env("HELPDESK_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    seen.push_str(&String::from_utf8_lossy(&help.stdout));
    assert!(
        seen.contains("listening") || seen.contains("helpdesk"),
        "{seen}"
    );
    assert!(
        !seen.contains(TOKEN),
        "the API token in what the helpdesk showed: {seen}"
    );
}

/// `/metrics` counts requests by route template and status code. Starts its
/// own server (fresh counters) against `database`, which must hold no
/// customers or tickets.
pub async fn metrics(database: &str) {
    let server = Helpdesk::start(database, &[("HELPDESK_VERSION", VERSION)]);
    let u = &server.url;
    let (status, ada) = post(
        &format!("{u}/customers"),
        json!({"name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, t) = post(
            &format!("{u}/tickets"),
            json!({"subject": "s", "customer_id": ada["id"], "channel": "voice"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        ids.push(t["id"].as_i64().unwrap());
    }
    let (status, _) = post(
        &format!("{u}/tickets"),
        json!({"subject": "", "customer_id": ada["id"], "channel": "voice"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for id in [ids[0], ids[1], 999] {
        get(&format!("{u}/tickets/{id}")).await;
    }
    // Made-up methods share one label value: clients cannot add series.
    for method in ["BREW", "PURGE"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = client()
            .request(method, format!("{u}/tickets"))
            .send()
            .await;
        assert_eq!(answer.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let text = metrics_text(u).await;
    assert_eq!(count(&text, "/tickets", "other", "405"), 2, "{text}");
    assert!(!text.contains("BREW") && !text.contains("PURGE"), "{text}");
    assert_eq!(count(&text, "/tickets", "POST", "201"), 3, "{text}");
    assert_eq!(count(&text, "/tickets", "POST", "422"), 1);
    assert_eq!(count(&text, "/tickets/{id}", "GET", "200"), 2);
    assert_eq!(count(&text, "/tickets/{id}", "GET", "404"), 1);
    assert!(text.contains("helpdesk_tickets_created_total 3"), "{text}");
    assert!(
        text.contains(&format!("helpdesk_build_info{{version=\"{VERSION}\"")),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{le="),
        "{text}"
    );
    let (_, version) = get(&format!("{u}/version")).await;
    assert_eq!(version["version"], VERSION);
}

/// With an error rate configured, that fraction of 2,000 reads of a ticket
/// is answered 500 (and counted as such); health never is. Starts its own
/// server (fresh counters) against `database`.
pub async fn faults(database: &str) {
    let server = Helpdesk::start(
        database,
        &[("HELPDESK_ERROR_RATE", &ERROR_RATE.to_string())],
    );
    let u = &server.url;
    let client = client();
    // Writes are faulted too: retry until each lands.
    let until_created = async |path: &str, body: Value| loop {
        let (status, created) = post(&format!("{u}{path}"), body.clone()).await;
        if status == StatusCode::CREATED {
            return created;
        }
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{created}");
    };
    let customer = until_created(
        "/customers",
        json!({"name": "Flo", "email": "flo@example.com"}),
    )
    .await;
    let ticket = until_created(
        "/tickets",
        json!({"subject": "s", "customer_id": customer["id"], "channel": "chat"}),
    )
    .await;
    let ticket_url = format!("{u}/tickets/{}", ticket["id"]);
    let mut failed: u32 = 0;
    for _ in 0..2000 {
        let r = client.get(&ticket_url).send().await.unwrap();
        match r.status() {
            StatusCode::INTERNAL_SERVER_ERROR => failed += 1,
            StatusCode::OK => assert_eq!(r.json::<Value>().await.unwrap()["id"], ticket["id"]),
            other => panic!("{other} from {ticket_url}"),
        }
    }
    let rate = f64::from(failed) / 2000.0;
    // ERROR_RATE (0.3) +- 0.05 is about 5 standard deviations for 2,000 requests.
    assert!(
        (rate - ERROR_RATE).abs() < 0.05,
        "observed error rate {rate}"
    );
    let text = metrics_text(u).await;
    let failed = u64::from(failed);
    assert_eq!(
        count(&text, "/tickets/{id}", "GET", "500"),
        failed,
        "{text}"
    );
    assert_eq!(count(&text, "/tickets/{id}", "GET", "200"), 2000 - failed);
    // Health is never faked.
    for _ in 0..50 {
        assert_eq!(
            client
                .get(format!("{u}/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
}
