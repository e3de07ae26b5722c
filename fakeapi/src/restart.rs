//! An API server restart: the listener and every open connection (watches
//! included) go away, nothing answers for a while, then the same store is
//! served again on the same address. As on a real restart, the new
//! server's watch cache starts at the current resourceVersion: a watch
//! resuming from an older one answers 410 Expired and the client relists.

use std::time::Duration;

use crate::fake::FakeApi;
use crate::serve::{Server, serve};

impl FakeApi {
    /// Forgets the watch history of every resource type, as a restarted
    /// API server's empty watch cache: watches from the current
    /// resourceVersion go on, older ones answer 410 Expired.
    pub fn forget_watch_history(&self) {
        self.shared.lock().forget_history();
    }
}

/// Stops `server`, leaves its address unanswered for `down`, and serves
/// `fake` there again with its watch history forgotten.
pub async fn restart(server: Server, fake: &FakeApi, down: Duration) -> std::io::Result<Server> {
    let addr = server.addr();
    server.stop().await;
    tokio::time::sleep(down).await;
    fake.forget_watch_history();
    serve(fake.clone(), addr).await
}
