//! Leader election on a `coordination.k8s.io/v1` Lease: only the holder
//! runs the controllers, so two replicas never both write. Every change
//! to the Lease is a conditional replace (resourceVersion), so two
//! candidates racing for it cannot both win.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::ObjectMeta;
use kube::{Api, Client};

use super::{KubeError, writes};

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// How long a holder that stops renewing keeps the lease.
    pub duration: Duration,
    /// How often the holder renews (and a candidate retries).
    pub renew_every: Duration,
}

pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
}

impl LeaderElector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Takes the lease if it is free or expired, renews it if ours.
    /// Returns whether we hold it now.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, KubeError> {
        let now = Timestamp::now();
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            return self.create(now).await;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.config.identity;
        let expired = spec.renew_time.as_ref().is_none_or(|renewed| {
            let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(0));
            renewed.0.as_millisecond() + seconds * 1000 < now.as_millisecond()
        });
        if !ours && !holder.is_empty() && !expired {
            return Ok(false);
        }
        let mut next = lease.clone();
        next.spec = Some(LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.duration_seconds()),
            renew_time: Some(MicroTime(now)),
            acquire_time: if ours {
                spec.acquire_time.clone()
            } else {
                Some(MicroTime(now))
            },
            lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!ours)),
            ..spec
        });
        writes::replace_lease(&self.api, &self.config.name, &next).await
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.config.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    async fn create(&self, now: Timestamp) -> Result<bool, KubeError> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(self.duration_seconds()),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        writes::create_lease(&self.api, &lease).await
    }

    /// Waits until we hold the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "leader election"),
            }
            tokio::time::sleep(self.config.renew_every).await;
        }
    }

    /// Renews until a renewal fails for longer than two thirds of the
    /// lease, then returns: by then another replica may be about to take
    /// over, and we must stop writing before it starts. A failed renewal
    /// is tried again five times as often as a renewal is due: waiting the
    /// whole period left room for only two tries before the deadline, and
    /// two API errors in a row (a 500, a slow answer) made the only replica
    /// exit (found by `tests/soak`).
    pub async fn hold(&self) {
        let deadline = self.config.duration.mul_f64(2.0 / 3.0);
        let retry_every = self.config.renew_every / 5;
        let mut last_renewed = tokio::time::Instant::now();
        let mut wait = self.config.renew_every;
        loop {
            tokio::time::sleep(wait).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    last_renewed = tokio::time::Instant::now();
                    wait = self.config.renew_every;
                }
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(%error, "renewing the leader lease");
                    wait = retry_every;
                }
            }
            if last_renewed.elapsed() > deadline {
                return;
            }
        }
    }

    /// Gives the lease up on a clean shutdown so a standby takes over at once.
    pub async fn release(&self) {
        let Ok(mut lease) = self.api.get(&self.config.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        match writes::replace_lease(&self.api, &self.config.name, &lease).await {
            Ok(true) => {}
            // Someone renewed or took it meanwhile: it is not ours to release.
            Ok(false) => tracing::debug!("the leader lease changed before its release"),
            Err(error) => tracing::warn!(%error, "releasing the leader lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn two_failed_renewals_in_a_row_do_not_lose_the_lease() {
        let fake = fakeapi::FakeApi::new();
        let elector = LeaderElector::new(
            fake.client(),
            LeaseConfig {
                namespace: "default".into(),
                name: "conductor-controller".into(),
                identity: "pod-1".into(),
                duration: Duration::from_secs(3),
                renew_every: Duration::from_secs(1),
            },
        );
        elector.acquire().await;
        // The next two renewals fail: with one try per period, the second
        // failure came after the two-second deadline.
        fake.fail_next(fakeapi::Fault {
            method: None,
            path_contains: "/leases/".into(),
            status: 500,
            times: 2,
        });
        let held = tokio::time::timeout(Duration::from_secs(4), elector.hold()).await;
        assert!(held.is_err(), "gave the lease up after two failed renewals");
        assert!(elector.try_acquire_or_renew().await.unwrap_or(false));
    }
}
