//! The local platform's helpdesk processes: started with their revision's
//! settings, ready on a loopback port, stopped by PID with nothing left.

use std::path::Path;

use conductor::platform::local::replicas::{ReplicaSets, RevisionSettings, program_binary};

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry.
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_follow_the_asked_scale_and_settings() {
    let binary =
        program_binary("helpdesk").expect("cargo test --workspace builds the helpdesk binary");
    let client = conductor::analysis::providers::http_client().unwrap();
    // The environment a pod template gives its container.
    let env = |version: &str, errors: &str| {
        [
            ("HELPDESK_VERSION", version),
            ("HELPDESK_ERROR_RATE", errors),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec()
    };
    let good = RevisionSettings {
        label: "v1".into(),
        env: env("v1", "0"),
    };
    let bad = RevisionSettings {
        label: "v3".into(),
        env: env("v3", "1.0"),
    };
    let mut sets = ReplicaSets::default();
    sets.scale(&binary, "h-v1", &good, 2).await.unwrap();
    sets.scale(&binary, "h-v3", &bad, 1).await.unwrap();
    assert_eq!((sets.count("h-v1"), sets.count("h-v3")), (2, 1));
    for addr in sets.addrs("h-v1") {
        let version: serde_json::Value = serde_json::from_str(
            &client
                .get(format!("http://{addr}/version"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(version["version"], "v1");
        assert_eq!(
            client
                .get(format!("http://{addr}/channels"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let bad_addr = sets.addrs("h-v3")[0];
    assert_eq!(
        client
            .get(format!("http://{bad_addr}/channels"))
            .send()
            .await
            .unwrap()
            .status(),
        500
    );

    let before = sets.pids();
    sets.scale(&binary, "h-v1", &good, 1).await.unwrap();
    let gone: Vec<u32> = before
        .iter()
        .copied()
        .filter(|p| !sets.pids().contains(p))
        .collect();
    assert_eq!(gone.len(), 1);
    assert!(!alive(gone[0]), "scaled-down replica stopped");
    let all = sets.pids();
    sets.stop_all();
    assert!(all.iter().all(|p| !alive(*p)), "no process left behind");
}
