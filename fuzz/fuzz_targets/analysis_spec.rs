//! AnalysisTemplates and AnalysisRuns as the controller receives them
//! (JSON). A template goes through `compose` and `check_template`, as
//! `validate` and the rollout controller check it; a run goes the analysis
//! controller's way: `of_run`, argument `resolve`, `plan_metrics` (every
//! condition compiled), `Run::resume` from its recorded status, one round
//! of measurements from a provider that always answers, then `status` and
//! the status table. Checked: no panic, checking is deterministic, and a
//! run resumed from the status it wrote reports that same status (a
//! restarted controller neither repeats nor skips a measurement).
#![no_main]

use conductor::analysis::args::{ArgSource, resolve};
use conductor::analysis::compose::compose;
use conductor::analysis::evaluate::{MeasureError, Observation};
use conductor::analysis::plan::{MetricPlan, check_template, plan_metrics};
use conductor::analysis::providers::{Measured, Provider};
use conductor::analysis::run::Run;
use conductor::analysis::table;
use conductor::analysis::value::MetricValue;
use conductor::crd::analysis::{AnalysisRun, AnalysisTemplate, AnalysisTemplateSpec};
use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;

/// Secrets and fields as the platform would read them.
struct Source;

impl ArgSource for Source {
    fn secret(&self, name: &str, key: &str) -> Result<String, String> {
        if name.is_empty() || key.is_empty() {
            Err("no such secret".into())
        } else {
            Ok(format!("{name}-{key}"))
        }
    }

    fn field(&self, path: &str) -> Result<String, String> {
        match path {
            "metadata.name" => Ok("helpdesk".into()),
            _ => Err(format!("no field {path}")),
        }
    }
}

/// Answers every query with a low error rate and some traffic.
struct Answers;

impl Provider for Answers {
    fn measure<'a>(&'a self, plan: &'a MetricPlan) -> Measured<'a> {
        let answer: Result<Observation, MeasureError> = Ok(Observation {
            value: MetricValue::scalar(0.02),
            traffic: Some(100.0),
            query: plan.query.shown(),
            detail: None,
        });
        Box::pin(async move { answer })
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(template) = serde_json::from_slice::<AnalysisTemplate>(data) {
        check_a_template(
            template.metadata.name.as_deref().unwrap_or("fuzz"),
            template.spec,
        );
    }
    if let Ok(run) = serde_json::from_slice::<AnalysisRun>(data) {
        drive_a_run(&run);
    }
});

fn check_a_template(name: &str, spec: AnalysisTemplateSpec) {
    let problems = check_template(name, &spec);
    assert_eq!(problems, check_template(name, &spec));
    // Every template it names exists and is itself without `templates`,
    // but a template naming itself is a cycle.
    let own = spec.clone();
    let lookup = |reference: &conductor::crd::rollout::AnalysisTemplateRef| {
        let mut found = own.clone();
        if reference.template_name != name {
            found.templates.clear();
        }
        Some(found)
    };
    if let Ok(composed) = compose(name, spec, &lookup) {
        let _ = check_template(name, &composed);
    }
}

fn drive_a_run(run: &AnalysisRun) {
    let Ok(args) = resolve(&run.spec.args, &Source) else {
        return;
    };
    let template = AnalysisTemplateSpec::of_run(&run.spec);
    let Ok(plans) = plan_metrics("fuzz", &template, &args) else {
        return;
    };
    let status = run.status.clone().unwrap_or_default();
    let now = Timestamp::now();
    let Ok(mut state) = Run::resume(plans.clone(), &status, now) else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let terminate = run.spec.terminate == Some(true);
    if terminate {
        state.terminate();
        assert!(
            state.is_finished(),
            "a terminated run goes on: {:?}",
            state.phase()
        );
    } else {
        runtime.block_on(state.measure_due(&Answers, now));
    }
    let written = state.status();
    let _ = table::render("fuzz", &written);
    let mut resumed = Run::resume(plans, &written, now)
        .unwrap_or_else(|e| panic!("the run cannot read the status it wrote: {e}"));
    if terminate {
        resumed.terminate();
    }
    assert_eq!(
        resumed.status(),
        written,
        "resuming from its own status changed it"
    );
}
