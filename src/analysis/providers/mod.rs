//! Where measurements come from. Each provider answers one [`Query`] kind
//! behind the same async trait; the [`Providers`] set dispatches.

mod datadog;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod http;
mod job;
mod jsonpath;
mod pod_scrape;
mod prom_text;
mod prometheus;
mod provider;
mod web;

use std::sync::Arc;

pub use datadog::{DatadogKeys, StaticKeys};
pub use http::{Clients, Trust, TrustError, client as http_client};
pub use job::{JobEnd, JobRunner};
pub use pod_scrape::{EndpointSource, StaticEndpoints};
pub use provider::{Measured, Provider};

use super::plan::{MetricPlan, Query};

/// Every provider, configured for one platform.
#[derive(Clone)]
pub struct Providers {
    prometheus: Arc<prometheus::Prometheus>,
    datadog: Arc<datadog::Datadog>,
    web: Arc<web::Web>,
    pod_scrape: Arc<pod_scrape::PodScrape>,
    jobs: Arc<job::Jobs>,
}

impl Providers {
    /// `trust` says which CAs HTTPS servers may be signed by; `keys` gives
    /// Datadog's API and application keys by Secret name; `endpoints` gives
    /// the canary pods' base URLs for pod scraping.
    pub fn new(
        trust: &Trust,
        keys: Arc<dyn DatadogKeys>,
        endpoints: Arc<dyn EndpointSource>,
    ) -> Result<Self, String> {
        Ok(Self::with_clients(Clients::new(trust)?, keys, endpoints))
    }

    /// The same, sharing HTTP clients (and their connection pools). Only
    /// the metrics that may say `insecure: true` (prometheus, web) get the
    /// client that does not verify certificates.
    pub fn with_clients(
        clients: Clients,
        keys: Arc<dyn DatadogKeys>,
        endpoints: Arc<dyn EndpointSource>,
    ) -> Self {
        let verified = clients.verified.clone();
        Self {
            prometheus: Arc::new(prometheus::Prometheus::new(clients.clone())),
            datadog: Arc::new(datadog::Datadog::new(verified.clone(), keys)),
            web: Arc::new(web::Web::new(clients)),
            pod_scrape: Arc::new(pod_scrape::PodScrape::new(verified, endpoints)),
            jobs: Arc::new(job::Jobs::new(None)),
        }
    }

    /// The same, running `job` metrics through `runner`.
    pub fn with_jobs(mut self, runner: Arc<dyn JobRunner>) -> Self {
        self.jobs = Arc::new(job::Jobs::new(Some(runner)));
        self
    }
}

impl Provider for Providers {
    fn measure<'a>(&'a self, plan: &'a MetricPlan) -> Measured<'a> {
        match &plan.query {
            Query::Prometheus { .. } => self.prometheus.measure(plan),
            Query::Datadog { .. } => self.datadog.measure(plan),
            Query::Web { .. } => self.web.measure(plan),
            Query::PodScrape { .. } => self.pod_scrape.measure(plan),
            Query::Job(_) => self.jobs.measure(plan),
        }
    }
}
