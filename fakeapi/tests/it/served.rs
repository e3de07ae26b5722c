//! The fake served over loopback HTTP, used as another process would:
//! through a kubeconfig file.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Config, ResourceExt};

use crate::common::configmap;

async fn served() -> (fakeapi::FakeApi, fakeapi::Server) {
    let fake = fakeapi::FakeApi::new();
    let server = fakeapi::serve(fake.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (fake, server)
}

async fn client_from_kubeconfig(addr: SocketAddr) -> Client {
    let path = std::env::temp_dir().join(format!("fakeapi-kubeconfig-{}.json", addr.port()));
    fakeapi::write_kubeconfig(&path, addr).unwrap();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn a_kubeconfig_client_creates_gets_and_watches() {
    let (fake, server) = served().await;
    let client = client_from_kubeconfig(server.addr()).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);

    let mut events = watcher::watcher(cms.clone(), watcher::Config::default()).boxed();
    // The initial (empty) list, so the create below arrives as a live event.
    loop {
        match events.next().await.unwrap().unwrap() {
            Event::InitDone => break,
            Event::Init | Event::InitApply(_) => {}
            other => panic!("unexpected before InitDone: {other:?}"),
        }
    }

    cms.create(&PostParams::default(), &configmap("web", &[("app", "web")]))
        .await
        .unwrap();
    let got = cms.get("web").await.unwrap();
    assert_eq!(got.labels().get("app").map(String::as_str), Some("web"));
    assert!(
        fake.get_object(("v1", "configmaps"), "default", "web")
            .is_some()
    );

    let seen = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match seen {
        Event::Apply(cm) => assert_eq!(cm.name_any(), "web"),
        other => panic!("expected the created ConfigMap, got {other:?}"),
    }

    let audit = fake.audit();
    assert_eq!(audit.len(), 1);
    // kube sends no User-Agent of its own.
    assert_eq!(audit[0].identity, "http");
    assert_eq!(audit[0].status, 201);
}

#[tokio::test]
async fn the_user_agent_is_the_audited_identity() {
    let (fake, server) = served().await;
    let addr = server.addr();
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"raw"}}"#;
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: {addr}\r\n\
             User-Agent: kubectl/v1.35\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(
        fake.get_object(("v1", "configmaps"), "default", "raw")
            .is_some()
    );
    assert_eq!(fake.audit()[0].identity, "kubectl/v1.35");
}

#[tokio::test]
async fn dropping_the_server_ends_open_watches() {
    let (_fake, server) = served().await;
    let client = client_from_kubeconfig(server.addr()).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let mut stream = cms
        .watch(&kube::api::WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    drop(server);
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap();
    assert!(
        !matches!(ended, Some(Ok(_))),
        "expected the stream to end or fail, got {ended:?}"
    );
}
