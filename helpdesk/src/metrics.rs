//! `/metrics` in the Prometheus text format. Labels are bounded: the route
//! template, never the raw path.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub build: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub durations: Family<RouteLabels, Histogram>,
    pub tickets_created: Counter,
    pub tickets_closed: Counter,
    pub messages_added: Counter,
}

impl Metrics {
    pub fn new(version: &str) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status code",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            durations.clone(),
        );
        let tickets_created = Counter::default();
        registry.register(
            "helpdesk_tickets_created",
            "Tickets opened",
            tickets_created.clone(),
        );
        let tickets_closed = Counter::default();
        registry.register(
            "helpdesk_tickets_closed",
            "Tickets closed",
            tickets_closed.clone(),
        );
        let messages_added = Counter::default();
        registry.register(
            "helpdesk_messages",
            "Messages added to tickets",
            messages_added.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: version.to_owned(),
                build: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register("helpdesk_build_info", "The running version", build);
        Self {
            registry: Mutex::new(registry),
            requests,
            durations,
            tickets_created,
            tickets_closed,
            messages_added,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = encode(&mut out, &registry);
        }
        out
    }
}
