//! The local platform's weighted proxy, over real HTTP.

#[path = "support/servers.rs"]
mod servers;

use conductor::platform::local::proxy::{Proxy, Side};
use servers::{Request, Response, Stub, handler};

async fn backend(name: &'static str, status: u16) -> Stub {
    Stub::start(handler(move |r: Request| async move {
        Response::new(status, format!("{name} {} {}", r.method, r.path)).header("x-revision", name)
    }))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn splits_by_weight_counts_per_side_and_stops_at_zero() {
    let (stable, canary) = (backend("v1", 200).await, backend("v2", 500).await);
    let proxy = Proxy::start().await.unwrap();
    proxy.set_backends(vec![stable.addr], vec![canary.addr]);
    proxy.set_weight(20);
    let client = conductor::analysis::providers::http_client().unwrap();
    let url = format!("http://{}/tickets?status=open", proxy.addr);
    let mut from_canary = 0;
    for _ in 0..500 {
        let answer = client.get(&url).send().await.unwrap();
        let revision = answer
            .headers()
            .get("x-revision")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = answer.text().await.unwrap();
        assert!(
            text.ends_with("GET /tickets"),
            "path and method forwarded: {text}"
        );
        if revision.as_deref() == Some("v2") {
            from_canary += 1;
        }
    }
    assert_eq!(from_canary, 100, "exactly 20%");
    assert_eq!(proxy.served(Side::Canary).requests, 100);
    assert_eq!(proxy.served(Side::Canary).errors, 100);
    assert_eq!(proxy.served(Side::Stable).errors, 0);

    proxy.set_weight(0);
    for _ in 0..100 {
        let answer = client.post(&url).body("{}").send().await.unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert!(!proxy.canary_after_zero());
    assert_eq!(
        proxy.served(Side::Canary).requests,
        100,
        "nothing more to the canary"
    );
    assert_eq!(proxy.served(Side::Stable).requests, 500);
}
