//! A fake API server with its workload simulator on a loopback port, and a
//! kubeconfig naming it: the suites' real-cluster mode (`KUBECONFIG` set)
//! runs against it without a cluster, which keeps that mode honest in CI.
//!
//! ```sh
//! cargo run -p fakeapi --example serve -- /tmp/fake.kubeconfig &
//! KUBECONFIG=/tmp/fake.kubeconfig cargo test --test deploy
//! ```
//!
//! A second argument names the kubeconfig's context (default `fakeapi`), so
//! several of them merge into one `KUBECONFIG` as several clusters. It
//! serves until stopped (SIGINT or SIGTERM), and prints `ready` once the
//! kubeconfig is written.

use fakeapi::FakeApi;

use fakeapi::simulator::Simulator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(kubeconfig) = args.next() else {
        return Err("usage: serve <kubeconfig file to write> [context name]".into());
    };
    let context = args.next().unwrap_or_else(|| "fakeapi".to_owned());
    let fake = FakeApi::new();
    let _simulator = Simulator::with_pods(&fake);
    let server = fakeapi::serve(fake, ([127, 0, 0, 1], 0).into()).await?;
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server.url()}}],
        "users": [{"name": context, "user": {}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    });
    std::fs::write(&kubeconfig, serde_json::to_vec_pretty(&config)?)?;
    println!("ready: {} ({kubeconfig}, context {context})", server.url());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}
