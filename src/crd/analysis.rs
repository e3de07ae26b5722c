//! `AnalysisTemplate`, `ClusterAnalysisTemplate` and `AnalysisRun`: what to
//! measure, how often, and which results pass. Field names follow Argo
//! Rollouts; `noDataPolicy`, `minimumTraffic` and `podScrape` are Conductor's.

// Each `printcolumn(...)` repeats the same keys; clippy reads them as duplicates.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::unsupported::{Unsupported, records_unsupported};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "conductor.dev",
    version = "v1alpha1",
    kind = "AnalysisTemplate",
    namespaced,
    shortname = "at",
    category = "conductor",
    derive = "PartialEq",
    doc = "Metrics, queries and pass/fail conditions that an analysis run measures.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
// See `RolloutSpec` for `remote = "Self"`.
#[serde(rename_all = "camelCase", remote = "Self")]
#[schemars(rename = "AnalysisTemplateSpec")]
pub struct AnalysisTemplateSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisArg>,
    /// Empty only when `templates` brings the metrics.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Other templates whose metrics and arguments this one includes, as
    /// Argo Rollouts composes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AnalysisTemplateRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Fields of the manifest this type did not read; each makes the
    /// template invalid (see `crd::unsupported`). Never written back.
    #[serde(skip)]
    pub unsupported: Unsupported,
}

records_unsupported!(AnalysisTemplateSpec);

impl AnalysisTemplateSpec {
    /// What a run measures, as a template to plan: its templates were
    /// composed when it was made, and the fields it did not read go along
    /// so planning ends the run as an Error naming them.
    pub fn of_run(run: &AnalysisRunSpec) -> Self {
        Self {
            args: run.args.clone(),
            metrics: run.metrics.clone(),
            templates: Vec::new(),
            dry_run: run.dry_run.clone(),
            measurement_retention: run.measurement_retention.clone(),
            unsupported: run.unsupported.clone(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    pub template_name: String,
    /// Look the name up among ClusterAnalysisTemplates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
}

impl AnalysisTemplateRef {
    /// The kind the reference names.
    pub fn kind(&self) -> &'static str {
        if self.cluster_scope.unwrap_or(false) {
            "ClusterAnalysisTemplate"
        } else {
            "AnalysisTemplate"
        }
    }
}

/// The same template, usable from every namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "conductor.dev",
    version = "v1alpha1",
    kind = "ClusterAnalysisTemplate",
    shortname = "cat",
    category = "conductor",
    derive = "PartialEq",
    doc = "An AnalysisTemplate shared by every namespace of the cluster.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(transparent)]
pub struct ClusterAnalysisTemplateSpec(pub AnalysisTemplateSpec);

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "conductor.dev",
    version = "v1alpha1",
    kind = "AnalysisRun",
    namespaced,
    status = "AnalysisRunStatus",
    shortname = "ar",
    category = "conductor",
    derive = "PartialEq",
    doc = "One execution of analysis templates: its measurements and verdict.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.message",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
// See `RolloutSpec` for `remote = "Self"`.
#[serde(rename_all = "camelCase", remote = "Self")]
#[schemars(rename = "AnalysisRunSpec")]
pub struct AnalysisRunSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisArg>,
    pub metrics: Vec<Metric>,
    /// Set by the rollout when it no longer needs the run; the run stops measuring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminate: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Fields of the manifest this type did not read; each ends the run
    /// as an Error (see `crd::unsupported`). Never written back.
    #[serde(skip)]
    pub unsupported: Unsupported,
}

records_unsupported!(AnalysisRunSpec);

/// An argument substituted into queries as `{{args.name}}`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisArg {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ArgValueFrom>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArgValueFrom {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// A field of the rollout, e.g. `metadata.labels['app']`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    pub field_path: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// Metric name, or a regular expression over metric names.
    pub metric_name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementRetention {
    pub metric_name: String,
    pub limit: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub name: String,
    /// Time between measurements (`30s`, `1m`); a single measurement when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<String>,
    /// Number of measurements; unbounded with an interval when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<IntOrString>,
    /// CEL over `result`, e.g. `result < 0.05`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_error_limit: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_success_limit: Option<IntOrString>,
    /// What a measurement with no data (empty result, NaN) counts as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_policy: Option<NoDataPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_traffic: Option<MinimumTraffic>,
    pub provider: MetricProvider,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NoDataPolicy {
    Fail,
    #[default]
    Inconclusive,
    Ignore,
}

/// Below `min` requests in the measurement window a measurement is inconclusive, not passed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MinimumTraffic {
    /// Query returning the request count, on the metric's provider; podScrape uses its denominator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub min: f64,
}

/// Where a metric comes from. Exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricProvider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datadog: Option<DatadogMetric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<WebMetric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_scrape: Option<PodScrapeMetric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobMetric>,
}

/// A measurement that runs a Kubernetes Job: it passes when the Job
/// completes and fails when the Job fails, as Argo Rollouts' job provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobMetric {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JobMetricMetadata>,
    #[serde(deserialize_with = "super::quantities::numbers_as_quantities")]
    #[schemars(schema_with = "job_spec_schema")]
    pub spec: k8s_openapi::api::batch::v1::JobSpec,
}

/// Labels and annotations for each measurement's Job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobMetricMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A Job's spec is Kubernetes' own type, checked by the API server when
/// the Job is created; spelled out here it would triple every analysis CRD.
fn job_spec_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "A batch/v1 JobSpec, as in a Job.",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusMetric {
    /// Default: the controller's `CONDUCTOR_PROMETHEUS_ADDRESS` (or Argo
    /// Rollouts' `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`).
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub query: String,
    /// Query timeout: whole seconds as Argo Rollouts writes it (`30`), or a
    /// duration (`10s`); default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeader>,
    /// Skip TLS certificate verification, as Argo Rollouts' field of the
    /// same name; each measurement says it did. Prefer trusting the
    /// server's CA with the controller's CA bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatadogMetric {
    /// `v1` (default) or `v2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<DatadogApiVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// v2: named queries combined by `formula`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub queries: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// Window the query looks back over (`5m`); default 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// How the points of the series become one value: `last` (default), `avg`, `mean`, `min`, `max` or `sum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<DatadogAggregator>,
    /// Datadog site, e.g. `datadoghq.eu`; default `datadoghq.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The Secret holding `api-key` and `app-key`, as Argo Rollouts
    /// names it; default `datadog` in the controller's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<DatadogSecretRef>,
    /// How long one request to Datadog may take (`10s`); default 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatadogSecretRef {
    /// Default `datadog`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `true`: the Secret is in the AnalysisRun's namespace; `false`
    /// (default): in the controller's own namespace, where one Secret
    /// serves every team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaced: Option<bool>,
}

closed_set! {
    /// Datadog's metrics query API generation.
    pub enum DatadogApiVersion {
        V1 = "v1",
        V2 = "v2",
    }
}

closed_set! {
    /// How a Datadog series becomes one value.
    pub enum DatadogAggregator {
        Last = "last",
        Avg = "avg",
        Min = "min",
        Max = "max",
        Sum = "sum",
        Mean = "mean",
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebMetric {
    pub url: String,
    /// GET (default) or POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<WebMethod>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HttpHeader>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// JSONPath to the value in the response, e.g. `{$.data.errorRate}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// Skip TLS certificate verification, as Argo Rollouts' field of the
    /// same name; each measurement says it did. Prefer trusting the
    /// server's CA with the controller's CA bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
}

/// Reads the Prometheus text format from the canary pods twice, one interval
/// apart, and turns counter increases into a rate or a ratio.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodScrapeMetric {
    /// Container port (number or name) serving metrics.
    pub port: IntOrString,
    /// Default `/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub numerator: CounterSelector,
    /// When set the result is numerator increase / denominator increase; otherwise a per-second rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<CounterSelector>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CounterSelector {
    pub metric: String,
    /// Label name to regular expression (anchored), e.g. `code: "5.."`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeader {
    pub key: String,
    pub value: String,
}

closed_set! {
    /// The HTTP method of a web metric.
    pub enum WebMethod {
        Get = "GET",
        Post = "POST",
    }
}

closed_set! {
    /// Where a run, a metric or one measurement stands. The engine reads
    /// the run's phase; the analysis code writes all three.
    #[derive(Default)]
    pub enum AnalysisPhase {
        #[default]
        Pending = "Pending",
        Running = "Running",
        Successful = "Successful",
        Failed = "Failed",
        Error = "Error",
        Inconclusive = "Inconclusive",
    }
}

impl AnalysisPhase {
    /// Successful, Failed, Error or Inconclusive: the run or metric is over.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStatus {
    /// Pending, Running, Successful, Failed, Error or Inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AnalysisPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_results: Vec<MetricResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_summary: Option<RunSummary>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    pub name: String,
    pub phase: AnalysisPhase,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub count: i32,
    #[serde(default)]
    pub successful: i32,
    #[serde(default)]
    pub failed: i32,
    #[serde(default)]
    pub inconclusive: i32,
    #[serde(default)]
    pub error: i32,
    #[serde(default)]
    pub consecutive_error: i32,
    #[serde(default)]
    pub consecutive_success: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

/// One measurement, with everything needed to see why it decided what it did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    pub phase: AnalysisPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The query as sent, arguments substituted (secrets masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub count: i32,
    pub successful: i32,
    pub failed: i32,
    pub inconclusive: i32,
    pub error: i32,
}
