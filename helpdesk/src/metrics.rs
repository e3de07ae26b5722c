//! `/metrics` in the Prometheus text format. Labels are bounded: the route
//! template, never the raw path.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use axum::extract::MatchedPath;
use axum::http::Method;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: HttpMethod,
    pub route: Route,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: HttpMethod,
    pub route: Route,
}

/// The request's method as a label value. A method outside the standard
/// ones is counted as `other`: a client must not be able to add series.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct HttpMethod(&'static str);

impl From<&Method> for HttpMethod {
    fn from(method: &Method) -> Self {
        static STANDARD: [Method; 9] = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::HEAD,
            Method::OPTIONS,
            Method::CONNECT,
            Method::TRACE,
        ];
        let name = STANDARD
            .iter()
            .find(|standard| *standard == method)
            .map_or("other", |standard| standard.as_str());
        Self(name)
    }
}

impl EncodeLabelValue for HttpMethod {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.0, encoder)
    }
}

/// The route template as a label value, `unmatched` when no route matched.
/// It shares the router's string: counting a request copies no text.
#[derive(Clone, Debug)]
pub struct Route(pub Option<MatchedPath>);

impl Route {
    pub fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
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
