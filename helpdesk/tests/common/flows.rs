//! Request flows shared by the SQLite and PostgreSQL tests.
#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::server::{Helpdesk, client};

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
