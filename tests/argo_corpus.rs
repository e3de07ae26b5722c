//! Argo Rollouts manifests as a migrating user brings them
//! (`tests/fixtures/argo/`, only `apiVersion` changed): each is applied
//! through the API server with Conductor's CRDs installed, so pruning
//! happens as on a cluster, and read back. Every document must be kept
//! whole (nothing dropped without a word), and then either run as written
//! (nothing reported) or be reported naming exactly the fields its header
//! lists. The share that runs as written is printed.
//!
//! Against the in-process fake API server by default; against a real
//! cluster when KUBECONFIG is set.

#[path = "support/cluster.rs"]
mod cluster;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cluster::Cluster;
use conductor::analysis::plan::check_template;
use conductor::crd::analysis::{
    AnalysisRun, AnalysisTemplate, AnalysisTemplateSpec, ClusterAnalysisTemplate,
};
use conductor::crd::experiment::Experiment;
use conductor::crd::rollout::Rollout;
use conductor::crd::schema::SchemaSet;
use conductor::crd::unsupported::{NOT_SUPPORTED, Unsupported};
use conductor::engine::Settings;
use fakeapi::FakeApi;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/argo")
}

/// One document and what its header says should happen to it.
#[derive(Debug, Clone)]
struct Document {
    file: String,
    object: Value,
    /// `# expect-unsupported:` paths: reported, each, as not supported.
    unsupported: BTreeSet<String>,
    /// `# expect-invalid:` the first problem reported starts with this.
    invalid: Option<String>,
    /// `# expect-rejected:` fields the API server refuses under the schema.
    rejected: BTreeSet<String>,
}

impl Document {
    fn read(path: &Path) -> Document {
        let text = std::fs::read_to_string(path).expect("a corpus file");
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let mut document = Document {
            object: serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{file}: not one YAML document: {e}")),
            file,
            unsupported: BTreeSet::new(),
            invalid: None,
            rejected: BTreeSet::new(),
        };
        for line in text.lines().take_while(|l| l.starts_with('#')) {
            let line = line.trim_start_matches('#').trim();
            if let Some(path) = line.strip_prefix("expect-unsupported:") {
                document.unsupported.insert(path.trim().to_owned());
            } else if let Some(text) = line.strip_prefix("expect-invalid:") {
                document.invalid = Some(text.trim().to_owned());
            } else if let Some(path) = line.strip_prefix("expect-rejected:") {
                document.rejected.insert(path.trim().to_owned());
            }
        }
        document
    }

    fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
}

fn corpus() -> Vec<Document> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/fixtures/argo")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files.iter().map(|p| Document::read(p)).collect()
}

/// What happened to a document, when it went as its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    /// Kept whole, nothing reported: it runs as written.
    Accepted,
    /// Kept whole, and reported naming each field Conductor does not support.
    Unsupported,
    /// Kept whole, and reported invalid naming the field (e.g. an empty router).
    Invalid,
    /// Refused by the API server under the CRD's schema, naming the field.
    Rejected,
}

/// The API resource of a Conductor kind, as `crds` serve it.
fn resource(crds: &[CustomResourceDefinition], kind: &str) -> (ApiResource, bool) {
    let crd = crds
        .iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD serves {kind}"));
    let resource = ApiResource {
        group: crd.spec.group.clone(),
        version: "v1alpha1".into(),
        api_version: format!("{}/v1alpha1", crd.spec.group),
        kind: kind.into(),
        plural: crd.spec.names.plural.clone(),
    };
    (resource, crd.spec.scope == "Namespaced")
}

/// Every path where `read` differs from `sent`: a field lost (or changed)
/// between applying and reading back.
fn differences(path: &str, sent: &Value, read: Option<&Value>, out: &mut Vec<String>) {
    match (sent, read) {
        (Value::Object(sent), Some(Value::Object(read))) => {
            for (key, value) in sent {
                differences(&format!("{path}.{key}"), value, read.get(key), out);
            }
            for key in read.keys().filter(|k| !sent.contains_key(*k)) {
                out.push(format!("{path}.{key} (added)"));
            }
        }
        (Value::Array(sent), Some(Value::Array(read))) if sent.len() == read.len() => {
            for (i, (s, r)) in sent.iter().zip(read).enumerate() {
                differences(&format!("{path}[{i}]"), s, Some(r), out);
            }
        }
        (sent, Some(read)) if sent == read => {}
        (_, None) => out.push(format!("{path} (dropped)")),
        (_, Some(_)) => out.push(format!("{path} (changed)")),
    }
}

/// The spec's unsupported fields and the first problem Conductor reports
/// for the object read back, as the controller decodes and checks it.
fn conductor_view(kind: &str, object: &Value) -> Result<(Unsupported, Option<String>), String> {
    let decoded = |e: serde_json::Error| format!("does not decode as a {kind}: {e}");
    let template = |name: &str, spec: &AnalysisTemplateSpec| {
        check_template(name, spec).first().map(ToString::to_string)
    };
    match kind {
        "Rollout" => {
            let rollout: Rollout = serde_json::from_value(object.clone()).map_err(decoded)?;
            let problem = Settings::from_spec(&rollout.spec, None)
                .err()
                .map(|p| p.to_string());
            Ok((rollout.spec.unsupported, problem))
        }
        "AnalysisTemplate" => {
            let t: AnalysisTemplate = serde_json::from_value(object.clone()).map_err(decoded)?;
            let problem = template(&t.metadata.name.unwrap_or_default(), &t.spec);
            Ok((t.spec.unsupported, problem))
        }
        "ClusterAnalysisTemplate" => {
            let t: ClusterAnalysisTemplate =
                serde_json::from_value(object.clone()).map_err(decoded)?;
            let problem = template(&t.metadata.name.unwrap_or_default(), &t.spec.0);
            Ok((t.spec.0.unsupported, problem))
        }
        "AnalysisRun" => {
            let run: AnalysisRun = serde_json::from_value(object.clone()).map_err(decoded)?;
            // As the analysis controller plans a run.
            let spec = AnalysisTemplateSpec::of_run(&run.spec);
            let problem = template(&run.metadata.name.unwrap_or_default(), &spec);
            Ok((run.spec.unsupported, problem))
        }
        "Experiment" => {
            let e: Experiment = serde_json::from_value(object.clone()).map_err(decoded)?;
            let problem = conductor::experiment::check(&e.spec).err();
            Ok((e.spec.unsupported, problem))
        }
        other => Err(format!("{other} is not a kind this corpus covers")),
    }
}

/// Applies `document` and checks it against its header; `Err` lists every
/// way it went otherwise.
async fn check(
    client: &Client,
    namespace: &str,
    crds: &[CustomResourceDefinition],
    schemas: &SchemaSet,
    document: &Document,
) -> Result<Verdict, Vec<String>> {
    let mut wrong = Vec::new();
    let set = |paths: &mut dyn Iterator<Item = String>| paths.collect::<BTreeSet<String>>();

    // What `conductor validate` (and a real API server's validation) says.
    let schema_problems = schemas.check(&document.object).unwrap_or_default();
    let (unknown, refused): (Vec<_>, Vec<_>) = schema_problems
        .iter()
        .partition(|p| p.message.starts_with(NOT_SUPPORTED));
    let refused_fields = set(&mut refused.iter().map(|p| p.field.clone()));
    if refused_fields != document.rejected {
        wrong.push(format!(
            "the schema refuses {refused:?}; expected to refuse {:?}",
            document.rejected
        ));
    }
    let unknown_fields = set(&mut unknown.iter().map(|p| p.field.clone()));
    if unknown_fields != document.unsupported {
        wrong.push(format!(
            "`conductor validate` reports {unknown_fields:?} as not supported; expected {:?}",
            document.unsupported
        ));
    }

    // Through the API server and back.
    let (resource, namespaced) = resource(crds, document.kind());
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    let object: DynamicObject =
        serde_json::from_value(document.object.clone()).map_err(|e| vec![e.to_string()])?;
    let stored = match api.create(&PostParams::default(), &object).await {
        Ok(stored) => stored,
        // A real API server validates against the schema; the fake does not.
        Err(kube::Error::Api(status)) if status.code == 422 && !document.rejected.is_empty() => {
            return if wrong.is_empty() {
                Ok(Verdict::Rejected)
            } else {
                Err(wrong)
            };
        }
        Err(e) => return Err(vec![format!("applying it failed: {e}")]),
    };
    let stored = serde_json::to_value(&stored).map_err(|e| vec![e.to_string()])?;
    if !namespaced {
        // Cluster-wide names outlive the test namespace on a real cluster.
        let _ = api.delete(document.name(), &DeleteParams::default()).await;
    }
    // A real API server refuses it (above), so what the fake kept of it
    // is nobody's: the schema's verdict is the one checked.
    if !document.rejected.is_empty() {
        return if wrong.is_empty() {
            Ok(Verdict::Rejected)
        } else {
            Err(wrong)
        };
    }
    let mut lost = Vec::new();
    for (field, value) in document.object.as_object().into_iter().flatten() {
        if field != "metadata" {
            differences(field, value, stored.get(field), &mut lost);
        }
    }
    if !lost.is_empty() {
        wrong.push(format!("not read back as written: {lost:?}"));
    }

    // What the controller reports for what the API server kept.
    let (unsupported, problem) = match conductor_view(document.kind(), &stored) {
        Ok(view) => view,
        Err(e) => {
            wrong.push(e);
            return Err(wrong);
        }
    };
    let found = set(&mut unsupported.paths().iter().cloned());
    if found != document.unsupported {
        wrong.push(format!(
            "the controller finds {found:?} not supported; expected {:?}",
            document.unsupported
        ));
    }
    let verdict = match (&problem, document.unsupported.first(), &document.invalid) {
        (Some(problem), Some(first), _) => {
            if !problem.contains(&format!("{first}: {NOT_SUPPORTED}")) {
                wrong.push(format!("reported as `{problem}`, not naming `{first}`"));
            }
            Verdict::Unsupported
        }
        (Some(problem), None, Some(invalid)) => {
            if !problem.starts_with(invalid.as_str()) {
                wrong.push(format!("reported as `{problem}`; expected `{invalid}...`"));
            }
            Verdict::Invalid
        }
        (Some(problem), None, None) => {
            wrong.push(format!(
                "reported as `{problem}`; expected to run as written"
            ));
            Verdict::Invalid
        }
        (None, None, None) => Verdict::Accepted,
        (None, _, _) => {
            wrong.push("nothing reported; the header expects a problem".into());
            Verdict::Accepted
        }
    };
    if wrong.is_empty() {
        Ok(verdict)
    } else {
        Err(wrong)
    }
}

/// Every document checked; the verdicts, or every file that went otherwise.
async fn check_all(
    client: &Client,
    namespace: &str,
    crds: &[CustomResourceDefinition],
    documents: &[Document],
) -> (Vec<(String, Verdict)>, Vec<String>) {
    let schemas = SchemaSet::new();
    let mut verdicts = Vec::new();
    let mut failures = Vec::new();
    for document in documents {
        match check(client, namespace, crds, &schemas, document).await {
            Ok(verdict) => verdicts.push((document.file.clone(), verdict)),
            Err(wrong) => failures.push(format!("{}:\n  {}", document.file, wrong.join("\n  "))),
        }
    }
    (verdicts, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_manifests_run_as_written_or_name_what_conductor_does_not_support() {
    let cluster = Cluster::start("argo-corpus").await;
    let documents = corpus();
    assert!(
        documents.len() >= 40,
        "the corpus has {} documents",
        documents.len()
    );
    let crds = conductor::crd::all();
    let (verdicts, failures) =
        check_all(&cluster.client(), &cluster.namespace, &crds, &documents).await;
    assert!(
        failures.is_empty(),
        "{} of {} documents went otherwise than their headers say:\n{}",
        failures.len(),
        documents.len(),
        failures.join("\n")
    );
    let count = |v: Verdict| verdicts.iter().filter(|(_, x)| *x == v).count();
    let accepted = count(Verdict::Accepted);
    println!(
        "argo corpus: {} documents; {accepted} accepted with nothing lost ({:.0}%), \
         {} reported naming unsupported fields, {} invalid, {} refused by the schema; \
         none changed silently",
        documents.len(),
        100.0 * accepted as f64 / documents.len() as f64,
        count(Verdict::Unsupported),
        count(Verdict::Invalid),
        count(Verdict::Rejected),
    );
    for (file, verdict) in &verdicts {
        println!("  {verdict:?}: {file}");
    }
}

/// The check above can fail: with CRDs that prune unknown fields (the
/// schemas as declared, without `x-kubernetes-preserve-unknown-fields`),
/// every document using a field Conductor does not support loses it on
/// the way in, and a header that forgets a field is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_crds_and_a_forgotten_field_are_caught() {
    let fake = FakeApi::new();
    let client = fake.client();
    let declared = conductor::crd::declared();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in &declared {
        let name = crd.metadata.name.clone().expect("a CRD name");
        api.patch(
            &name,
            &PatchParams::apply("argo-corpus").force(),
            &Patch::Apply(crd),
        )
        .await
        .expect("the declared CRDs install");
    }
    let documents = corpus();
    let (_, failures) = check_all(&client, "default", &declared, &documents).await;
    let lossy: Vec<&Document> = documents
        .iter()
        // The API server refuses the others whole, whatever it prunes.
        .filter(|d| !d.unsupported.is_empty() && d.rejected.is_empty())
        .collect();
    assert!(!lossy.is_empty());
    for document in lossy {
        let first = document.unsupported.first().expect("a field");
        assert!(
            failures
                .iter()
                .any(|f| f.starts_with(&format!("{}:", document.file))
                    && f.contains(&format!("{first} (dropped)"))),
            "{}: pruning {first} went unnoticed:\n{}",
            document.file,
            failures.join("\n")
        );
    }

    // A header that forgets the field Conductor does not support.
    let fake = FakeApi::new();
    let client = fake.client();
    let crds = conductor::crd::all();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in &crds {
        let name = crd.metadata.name.clone().expect("a CRD name");
        api.patch(
            &name,
            &PatchParams::apply("argo-corpus").force(),
            &Patch::Apply(crd),
        )
        .await
        .expect("the CRDs install");
    }
    let mut forgotten = documents
        .iter()
        .find(|d| d.file == "rollout-ambassador.yaml")
        .expect("the Ambassador document")
        .clone();
    forgotten.unsupported.clear();
    let (_, failures) = check_all(&client, "default", &crds, &[forgotten]).await;
    assert!(
        failures.len() == 1
            && failures[0]
                .contains("spec.strategy.canary.trafficRouting.ambassador: not supported"),
        "{failures:#?}"
    );
}
