//! An analysis template's metrics, checked and resolved against the run's
//! arguments into what the scheduler and providers work with. Every
//! problem names the template, the metric and the field.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::args::{ArgValue, Resolved, substitute};
use super::condition::Condition;
use crate::crd::analysis::{
    AnalysisTemplateSpec, CounterSelector, DatadogAggregator, DatadogApiVersion, DatadogSecretRef,
    HttpHeader, JobMetric, Metric, MetricProvider, NoDataPolicy, WebMethod,
};
use crate::crd::problem::SpecProblem;
use crate::engine::duration::parse_millis;

const DEFAULT_CONSECUTIVE_ERROR_LIMIT: i32 = 4;
const DEFAULT_RETENTION: usize = 10;
const DEFAULT_TIMEOUT_MS: i64 = 30_000;

#[derive(Debug, Clone, PartialEq)]
pub struct MetricPlan {
    pub name: String,
    pub interval_ms: Option<i64>,
    pub initial_delay_ms: i64,
    /// Measurements to take; `None` means until the run is terminated.
    pub count: Option<i32>,
    pub failure_limit: i32,
    pub inconclusive_limit: i32,
    pub consecutive_error_limit: i32,
    pub consecutive_success_limit: Option<i32>,
    pub success: Option<Condition>,
    pub failure: Option<Condition>,
    pub no_data: NoDataPolicy,
    pub minimum_traffic: Option<TrafficGuard>,
    pub dry_run: bool,
    pub retention: usize,
    pub query: Query,
}

/// Where a metric without `prometheus.address` asks, as Argo Rollouts'
/// controller does: one Prometheus for the whole cluster, set once.
const PROMETHEUS_ADDRESS_VARIABLES: [&str; 2] = [
    "CONDUCTOR_PROMETHEUS_ADDRESS",
    "ARGO_ROLLOUTS_PROMETHEUS_ADDRESS",
];

fn default_prometheus_address() -> Option<String> {
    PROMETHEUS_ADDRESS_VARIABLES
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

/// Where a Datadog measurement's keys are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatadogSecret {
    pub name: String,
    /// In the AnalysisRun's namespace; else in the controller's.
    pub namespaced: bool,
}

impl DatadogSecret {
    pub fn of(reference: Option<&DatadogSecretRef>) -> Self {
        Self {
            name: reference
                .and_then(|r| r.name.clone())
                .unwrap_or_else(|| "datadog".into()),
            namespaced: reference.and_then(|r| r.namespaced).unwrap_or(false),
        }
    }
}

impl std::fmt::Display for DatadogSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = if self.namespaced {
            "the run's namespace"
        } else {
            "the controller's namespace"
        };
        write!(f, "Secret `{}` in {place}", self.name)
    }
}

/// Below `min` requests a measurement is inconclusive; `query` counts them
/// (podScrape counts with its denominator instead).
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficGuard {
    pub query: Option<Resolved>,
    pub min: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Prometheus {
        address: Resolved,
        query: Resolved,
        timeout_ms: i64,
        headers: Vec<(String, Resolved)>,
        /// Certificates not verified (`insecure: true`).
        insecure: bool,
    },
    Datadog {
        v2: bool,
        query: Option<Resolved>,
        queries: BTreeMap<String, Resolved>,
        formula: Option<String>,
        window_ms: i64,
        aggregator: DatadogAggregator,
        site: String,
        secret: DatadogSecret,
        request_timeout_ms: i64,
    },
    Web {
        url: Resolved,
        post: bool,
        headers: Vec<(String, Resolved)>,
        body: Option<Resolved>,
        json_path: Option<String>,
        timeout_ms: i64,
        /// Certificates not verified (`insecure: true`).
        insecure: bool,
    },
    PodScrape {
        port: IntOrString,
        path: String,
        numerator: CounterSelector,
        denominator: Option<CounterSelector>,
    },
    /// Runs a Job: 1 when it completes, 0 when it fails.
    Job(Box<JobMetric>),
}

impl Query {
    /// The query as recorded in a measurement, secrets masked.
    pub fn shown(&self) -> String {
        match self {
            Query::Prometheus { query, .. } => query.shown.trim().to_owned(),
            Query::Datadog { query: Some(q), .. } => q.shown.clone(),
            Query::Datadog {
                queries, formula, ..
            } => {
                let parts: Vec<String> = queries
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.shown))
                    .collect();
                format!(
                    "{} with formula {}",
                    parts.join(", "),
                    formula.as_deref().unwrap_or("-")
                )
            }
            Query::Web { url, post, .. } => {
                format!("{} {}", if *post { "POST" } else { "GET" }, url.shown)
            }
            Query::Job(job) => {
                let image = job
                    .spec
                    .template
                    .spec
                    .as_ref()
                    .and_then(|p| p.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                format!("job running {image}")
            }
            Query::PodScrape {
                path,
                port,
                numerator,
                denominator,
            } => {
                let port = match port {
                    IntOrString::Int(p) => p.to_string(),
                    IntOrString::String(p) => p.clone(),
                };
                let ratio = denominator
                    .as_ref()
                    .map(|d| format!(" / increase({})", selector(d)))
                    .unwrap_or_else(|| " per second".into());
                format!(
                    "increase({}){ratio} scraped from :{port}{path}",
                    selector(numerator)
                )
            }
        }
    }
}

fn selector(s: &CounterSelector) -> String {
    if s.labels.is_empty() {
        return s.metric.clone();
    }
    let labels: Vec<String> = s
        .labels
        .iter()
        .map(|(k, v)| format!("{k}=~\"{v}\""))
        .collect();
    format!("{}{{{}}}", s.metric, labels.join(","))
}

/// A problem with a field of an analysis template: `AnalysisTemplate
/// error-rate: metrics[0] (errors): interval: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "AnalysisTemplate {template}: {}{problem}",
    .metric.as_ref().map(|(i, name)| format!("metrics[{i}] ({name}): ")).unwrap_or_default()
)]
pub struct TemplateProblem {
    pub template: String,
    /// The metric's index and name, when the field is one of a metric's.
    pub metric: Option<(usize, String)>,
    /// The field, relative to the metric when there is one.
    pub problem: SpecProblem,
}

/// Resolves a template's metrics with the run's argument values. Returns
/// every problem, each naming template, metric and field.
pub fn plan_metrics(
    template: &str,
    spec: &AnalysisTemplateSpec,
    args: &[ArgValue],
) -> Result<Vec<MetricPlan>, Vec<TemplateProblem>> {
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    let in_template = |problem: SpecProblem| TemplateProblem {
        template: template.to_owned(),
        metric: None,
        problem,
    };
    // Alone: a field Conductor did not read (a `job` provider) also leaves
    // what it did read incomplete, and that second problem is only noise.
    if !spec.unsupported.is_empty() {
        return Err(spec.unsupported.problems().map(in_template).collect());
    }
    for declared in &spec.args {
        let has_value = args.iter().any(|a| a.name == declared.name);
        if !has_value && declared.value.is_none() {
            problems.push(in_template(SpecProblem::new(
                "args",
                format!("`{}` has no value", declared.name),
            )));
        }
    }
    // Template defaults first, then the run's values.
    let mut all_args: Vec<ArgValue> = spec
        .args
        .iter()
        .filter_map(|a| a.value.as_ref().map(|v| ArgValue::literal(&a.name, v)))
        .collect();
    for arg in args {
        all_args.retain(|a| a.name != arg.name);
        all_args.push(arg.clone());
    }
    let dry_run_names = spec.dry_run.iter().map(|d| d.metric_name.as_str());
    let retention_names = spec
        .measurement_retention
        .iter()
        .map(|r| r.metric_name.as_str());
    let dry_run_patterns = metric_patterns(dry_run_names, "dryRun", &mut problems, &in_template);
    let retention_patterns = metric_patterns(
        retention_names,
        "measurementRetention",
        &mut problems,
        &in_template,
    );
    for (i, metric) in spec.metrics.iter().enumerate() {
        let dry_run = dry_run_patterns.iter().any(|p| p.is_match(&metric.name));
        let retention = retention_patterns
            .iter()
            .position(|p| p.is_match(&metric.name))
            .map(|at| &spec.measurement_retention[at])
            .map_or(DEFAULT_RETENTION, |r| {
                usize::try_from(r.limit).unwrap_or(DEFAULT_RETENTION).max(1)
            });
        match plan_metric(metric, &all_args, dry_run, retention) {
            Ok(plan) => plans.push(plan),
            Err(errs) => problems.extend(errs.into_iter().map(|problem| TemplateProblem {
                template: template.to_owned(),
                metric: Some((i, metric.name.clone())),
                problem,
            })),
        }
    }
    // A template of templates brings its metrics when it is composed.
    if spec.metrics.is_empty() && spec.templates.is_empty() {
        problems.push(in_template(SpecProblem::new(
            "metrics",
            "list at least one metric",
        )));
    }
    let mut names: Vec<&str> = spec.metrics.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    for pair in names.windows(2) {
        if pair[0] == pair[1] {
            problems.push(in_template(SpecProblem::new(
                "metrics",
                format!("name `{}` is used twice", pair[0]),
            )));
        }
    }
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(problems)
    }
}

/// The `metricName`s of `dryRun` or `measurementRetention` (`field`) as
/// Argo reads them: a name, `*`, or a regular expression matching whole
/// names. One that does not compile is a problem naming its entry.
fn metric_patterns<'a>(
    names: impl Iterator<Item = &'a str>,
    field: &str,
    problems: &mut Vec<TemplateProblem>,
    in_template: &impl Fn(SpecProblem) -> TemplateProblem,
) -> Vec<regex::Regex> {
    names
        .enumerate()
        .filter_map(|(i, name)| {
            let pattern = if name == "*" { ".*" } else { name };
            regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| {
                    let at = format!("{field}[{i}].metricName");
                    problems.push(in_template(SpecProblem::new(at, e)));
                })
                .ok()
        })
        .collect()
}

/// Checks a template on its own (as `conductor validate` does), with
/// placeholder values for arguments the run would supply.
pub fn check_template(template: &str, spec: &AnalysisTemplateSpec) -> Vec<TemplateProblem> {
    let placeholders: Vec<ArgValue> = spec
        .args
        .iter()
        .map(|a| ArgValue::literal(&a.name, a.value.as_deref().unwrap_or("placeholder")))
        .collect();
    plan_metrics(template, spec, &placeholders)
        .err()
        .unwrap_or_default()
}

fn plan_metric(
    metric: &Metric,
    args: &[ArgValue],
    dry_run: bool,
    retention: usize,
) -> Result<MetricPlan, Vec<SpecProblem>> {
    let mut problems = Vec::new();
    let mut duration = |value: &Option<String>, field: &str| match value {
        Some(text) => parse_millis(text).map(Some).unwrap_or_else(|e| {
            problems.push(SpecProblem::new(field, e));
            None
        }),
        None => None,
    };
    let interval_ms = duration(&metric.interval, "interval");
    let initial_delay_ms = duration(&metric.initial_delay, "initialDelay").unwrap_or(0);
    let mut count_of = |value: &Option<IntOrString>, field: &str, default: Option<i32>| match value
    {
        None => default,
        Some(IntOrString::Int(n)) if *n >= 0 => Some(*n),
        Some(IntOrString::String(s)) if s.parse::<i32>().is_ok_and(|n| n >= 0) => s.parse().ok(),
        Some(other) => {
            problems.push(SpecProblem::new(
                field,
                format!("{other:?} is not a count of 0 or more"),
            ));
            default
        }
    };
    let count = count_of(
        &metric.count,
        "count",
        if metric.interval.is_some() {
            None
        } else {
            Some(1)
        },
    );
    let failure_limit = count_of(&metric.failure_limit, "failureLimit", Some(0)).unwrap_or(0);
    let inconclusive_limit =
        count_of(&metric.inconclusive_limit, "inconclusiveLimit", Some(0)).unwrap_or(0);
    let consecutive_error_limit = count_of(
        &metric.consecutive_error_limit,
        "consecutiveErrorLimit",
        Some(DEFAULT_CONSECUTIVE_ERROR_LIMIT),
    )
    .unwrap_or(DEFAULT_CONSECUTIVE_ERROR_LIMIT);
    let consecutive_success_limit = count_of(
        &metric.consecutive_success_limit,
        "consecutiveSuccessLimit",
        None,
    );
    if count.is_some_and(|c| c > 1) && interval_ms.is_none() {
        problems.push(SpecProblem::new(
            "interval",
            "needed when count is more than 1",
        ));
    }
    let mut compile = |source: &Option<String>, field: &str| match source {
        Some(s) => Condition::compile(s).map(Some).unwrap_or_else(|e| {
            problems.push(SpecProblem::new(field, e));
            None
        }),
        None => None,
    };
    let mut success = compile(&metric.success_condition, "successCondition");
    let failure = compile(&metric.failure_condition, "failureCondition");
    let query = match plan_query(&metric.provider, args) {
        Ok(q) => Some(q),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    // A Job's verdict is its own: complete passes, failed fails.
    if matches!(query, Some(Query::Job(_))) && success.is_none() && failure.is_none() {
        success = Condition::compile("result == 1").ok();
    }
    let minimum_traffic = match &metric.minimum_traffic {
        Some(guard) => {
            let query = match &guard.query {
                Some(q) => substitute(q, args).map(Some).unwrap_or_else(|e| {
                    problems.push(SpecProblem::new("minimumTraffic.query", e));
                    None
                }),
                None => {
                    if metric
                        .provider
                        .pod_scrape
                        .as_ref()
                        .is_none_or(|p| p.denominator.is_none())
                    {
                        problems.push(SpecProblem::new(
                            "minimumTraffic.query",
                            "needed unless the metric is a podScrape ratio",
                        ));
                    }
                    None
                }
            };
            if !guard.min.is_finite() || guard.min < 0.0 {
                problems.push(SpecProblem::new(
                    "minimumTraffic.min",
                    format!("{} must be 0 or more", guard.min),
                ));
            }
            Some(TrafficGuard {
                query,
                min: guard.min,
            })
        }
        None => None,
    };
    match (problems.is_empty(), query) {
        (true, Some(query)) => Ok(MetricPlan {
            name: metric.name.clone(),
            interval_ms,
            initial_delay_ms,
            count,
            failure_limit,
            inconclusive_limit,
            consecutive_error_limit,
            consecutive_success_limit,
            success,
            failure,
            no_data: metric.no_data_policy.unwrap_or_default(),
            minimum_traffic,
            dry_run,
            retention,
            query,
        }),
        _ => Err(problems),
    }
}

fn headers(
    list: &[HttpHeader],
    args: &[ArgValue],
    field: &str,
) -> Result<Vec<(String, Resolved)>, SpecProblem> {
    list.iter()
        .map(|h| {
            substitute(&h.value, args)
                .map(|v| (h.key.clone(), v))
                .map_err(|e| SpecProblem::new(field, e))
        })
        .collect()
}

fn plan_query(provider: &MetricProvider, args: &[ArgValue]) -> Result<Query, SpecProblem> {
    let set = [
        provider.prometheus.is_some(),
        provider.datadog.is_some(),
        provider.web.is_some(),
        provider.pod_scrape.is_some(),
        provider.job.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return Err(SpecProblem::new(
            "provider",
            "set exactly one of prometheus, datadog, web, podScrape or job",
        ));
    }
    let sub =
        |text: &str, field: &str| substitute(text, args).map_err(|e| SpecProblem::new(field, e));
    let timeout = |value: &Option<String>, field: &str| match value {
        Some(t) => parse_millis(t).map_err(|e| SpecProblem::new(field, e)),
        None => Ok(DEFAULT_TIMEOUT_MS),
    };
    if let Some(p) = &provider.prometheus {
        if p.query.trim().is_empty() {
            return Err(SpecProblem::new("provider.prometheus.query", "required"));
        }
        let address = match p.address.trim() {
            "" => default_prometheus_address().ok_or_else(|| {
                SpecProblem::new(
                    "provider.prometheus.address",
                    format!(
                        "empty, and neither {} is set",
                        PROMETHEUS_ADDRESS_VARIABLES.join(" nor ")
                    ),
                )
            })?,
            _ => p.address.clone(),
        };
        return Ok(Query::Prometheus {
            address: sub(&address, "provider.prometheus.address")?,
            query: sub(&p.query, "provider.prometheus.query")?,
            timeout_ms: match &p.timeout {
                Some(IntOrString::Int(seconds)) if *seconds > 0 => i64::from(*seconds) * 1000,
                Some(IntOrString::Int(seconds)) => {
                    return Err(SpecProblem::new(
                        "provider.prometheus.timeout",
                        format!("{seconds} is not a positive number of seconds"),
                    ));
                }
                Some(IntOrString::String(text)) => {
                    timeout(&Some(text.clone()), "provider.prometheus.timeout")?
                }
                None => DEFAULT_TIMEOUT_MS,
            },
            headers: headers(&p.headers, args, "provider.prometheus.headers")?,
            insecure: p.insecure.unwrap_or(false),
        });
    }
    if let Some(d) = &provider.datadog {
        let v2 = d.api_version == Some(DatadogApiVersion::V2);
        let query = d
            .query
            .as_deref()
            .map(|q| sub(q, "provider.datadog.query"))
            .transpose()?;
        let queries = d
            .queries
            .iter()
            .map(|(k, v)| sub(v, &format!("provider.datadog.queries.{k}")).map(|r| (k.clone(), r)))
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        match (v2, &query, queries.is_empty()) {
            (false, None, _) => {
                return Err(SpecProblem::new(
                    "provider.datadog.query",
                    "needed with apiVersion v1",
                ));
            }
            (false, Some(_), false) => {
                return Err(SpecProblem::new(
                    "provider.datadog.queries",
                    "only with apiVersion v2",
                ));
            }
            (true, None, true) => {
                return Err(SpecProblem::new("provider.datadog", "set query or queries"));
            }
            _ => {}
        }
        if d.formula.is_some() && queries.is_empty() {
            return Err(SpecProblem::new(
                "provider.datadog.formula",
                "combines `queries`; set them",
            ));
        }
        let aggregator = d.aggregator.unwrap_or(DatadogAggregator::Last);
        return Ok(Query::Datadog {
            v2,
            query,
            queries,
            formula: d.formula.clone(),
            window_ms: timeout(
                &d.interval.clone().or(Some("5m".into())),
                "provider.datadog.interval",
            )?,
            aggregator,
            site: d.site.clone().unwrap_or_else(|| "datadoghq.com".into()),
            secret: DatadogSecret::of(d.secret_ref.as_ref()),
            request_timeout_ms: timeout(
                &d.request_timeout.clone().or(Some("10s".into())),
                "provider.datadog.requestTimeout",
            )?,
        });
    }
    if let Some(w) = &provider.web {
        let post = w.method == Some(WebMethod::Post);
        if w.body.is_some() && !post {
            return Err(SpecProblem::new(
                "provider.web.body",
                "only with method POST",
            ));
        }
        return Ok(Query::Web {
            url: sub(&w.url, "provider.web.url")?,
            post,
            headers: headers(&w.headers, args, "provider.web.headers")?,
            body: w
                .body
                .as_deref()
                .map(|b| sub(b, "provider.web.body"))
                .transpose()?,
            json_path: w.json_path.clone(),
            timeout_ms: w
                .timeout_seconds
                .map_or(DEFAULT_TIMEOUT_MS, |s| s.max(1) * 1000),
            insecure: w.insecure.unwrap_or(false),
        });
    }
    if let Some(job) = &provider.job {
        if job.spec.template.spec.is_none() {
            return Err(SpecProblem::new(
                "provider.job.spec.template.spec",
                "required: the pod the Job runs",
            ));
        }
        return Ok(Query::Job(Box::new(job.clone())));
    }
    let Some(s) = &provider.pod_scrape else {
        return Err(SpecProblem::new(
            "provider",
            "set exactly one of prometheus, datadog, web, podScrape or job",
        ));
    };
    for (selector, field) in [
        (Some(&s.numerator), "numerator"),
        (s.denominator.as_ref(), "denominator"),
    ] {
        if let Some(selector) = selector {
            if selector.metric.is_empty() {
                return Err(SpecProblem::new(
                    format!("provider.podScrape.{field}.metric"),
                    "must name a counter",
                ));
            }
            for (label, pattern) in &selector.labels {
                regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                    SpecProblem::new(format!("provider.podScrape.{field}.labels.{label}"), e)
                })?;
            }
        }
    }
    Ok(Query::PodScrape {
        port: s.port.clone(),
        path: s.path.clone().unwrap_or_else(|| "/metrics".into()),
        numerator: s.numerator.clone(),
        denominator: s.denominator.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prometheus_timeout(timeout: serde_json::Value) -> Result<i64, SpecProblem> {
        let provider: MetricProvider = serde_json::from_value(serde_json::json!({
            "prometheus": {"address": "http://127.0.0.1:9090", "query": "up", "timeout": timeout}
        }))
        .expect("a provider");
        match plan_query(&provider, &[])? {
            Query::Prometheus { timeout_ms, .. } => Ok(timeout_ms),
            other => panic!("not a Prometheus query: {other:?}"),
        }
    }

    #[test]
    fn a_prometheus_timeout_is_argos_whole_seconds_or_a_duration() {
        assert_eq!(prometheus_timeout(serde_json::json!(30)), Ok(30_000));
        assert_eq!(prometheus_timeout(serde_json::json!("10s")), Ok(10_000));
        let problem = prometheus_timeout(serde_json::json!(0)).unwrap_err();
        assert_eq!(
            problem.to_string(),
            "provider.prometheus.timeout: 0 is not a positive number of seconds"
        );
    }

    fn template_problems(spec: serde_json::Value) -> Vec<String> {
        let spec: AnalysisTemplateSpec = serde_json::from_value(spec).expect("a template spec");
        check_template("smoke", &spec)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_provider_conductor_does_not_read_is_named_alone() {
        assert_eq!(
            template_problems(serde_json::json!({"metrics": [{
                "name": "smoke",
                "provider": {"newRelic": {"query": "SELECT 1"}},
            }]})),
            [
                "AnalysisTemplate smoke: spec.metrics[0].provider.newRelic: not supported by Conductor"
            ]
        );
        assert_eq!(
            template_problems(serde_json::json!({"metrics": [{"name": "smoke", "provider": {}}]})),
            [
                "AnalysisTemplate smoke: metrics[0] (smoke): provider: set exactly one of prometheus, datadog, web, podScrape or job"
            ]
        );
    }

    #[test]
    fn dry_run_and_retention_name_metrics_by_name_star_or_pattern() {
        let spec = |dry_run: serde_json::Value| -> AnalysisTemplateSpec {
            let metrics: Vec<serde_json::Value> = ["error-rate", "latency-p99", "saturation"]
                .map(|name| {
                    serde_json::json!({
                        "name": name,
                        "provider": {"web": {"url": "http://127.0.0.1:1/m", "jsonPath": "{$.v}"}},
                    })
                })
                .into();
            serde_json::from_value(serde_json::json!({
                "metrics": metrics,
                "dryRun": dry_run,
                "measurementRetention": [{"metricName": "latency-.*", "limit": 3}],
            }))
            .expect("a template spec")
        };
        let dry = |dry_run: serde_json::Value| -> Vec<(String, bool, usize)> {
            plan_metrics("smoke", &spec(dry_run), &[])
                .expect("plans")
                .into_iter()
                .map(|p| (p.name, p.dry_run, p.retention))
                .collect()
        };
        assert_eq!(
            dry(serde_json::json!([{"metricName": "error-rate"}, {"metricName": "lat.*"}])),
            [
                ("error-rate".to_owned(), true, DEFAULT_RETENTION),
                ("latency-p99".to_owned(), true, 3),
                ("saturation".to_owned(), false, DEFAULT_RETENTION),
            ]
        );
        assert!(
            dry(serde_json::json!([{"metricName": "*"}]))
                .iter()
                .all(|m| m.1)
        );
        assert!(
            dry(serde_json::json!([{"metricName": "rate"}]))
                .iter()
                .all(|m| !m.1),
            "whole names only"
        );
        let problems: Vec<String> = plan_metrics(
            "smoke",
            &spec(serde_json::json!([{"metricName": "(unclosed"}])),
            &[],
        )
        .expect_err("a pattern that does not compile")
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("AnalysisTemplate smoke: dryRun[0].metricName: regex parse error"),
            "{problems:?}"
        );
    }
}
