//! Users of a local cluster: requests at a steady rate through its proxy,
//! so the canary is judged on real traffic and the report can say what
//! users saw.

use std::net::SocketAddr;
use std::time::Duration;

use super::error::DemoError;
use crate::platform::local::controller::Task;

/// Sends `rate` requests a second through the proxy at `proxy`.
pub fn start(proxy: SocketAddr, rate: u32) -> Result<Task, DemoError> {
    let client = crate::analysis::providers::http_client().map_err(DemoError::Setup)?;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    Ok(Task(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        let mut n: u64 = 0;
        loop {
            ticker.tick().await;
            n += 1;
            let path = if n.is_multiple_of(3) {
                "/tickets?status=open"
            } else {
                "/channels"
            };
            let client = client.clone();
            // What users see is counted by the proxy.
            tokio::spawn(async move {
                let _ = client
                    .get(format!("http://{proxy}{path}"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
            });
        }
    })))
}
