//! Command-line interface.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::plan::{self, PlanRequest};
use crate::platform::kubernetes::controller;
use crate::platform::kubernetes::leader::LeaseConfig;
use crate::render::{self, Helm};
use crate::{analyze, config, crd, demo, validate};

#[derive(Debug, Parser)]
#[command(
    name = "conductor",
    version,
    about = "Progressive delivery for Kubernetes, driven from Git"
)]
pub struct Cli {
    /// Repository holding conductor-config/ and charts/.
    #[arg(long, global = true, default_value = ".", env = "CONDUCTOR_REPO")]
    pub repo: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions, or write one file each into a folder.
    Crds {
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Check every service, environment, cluster, values file and chart render.
    Validate,
    /// Show what each cluster of an environment will get.
    Plan {
        service: String,
        #[arg(long = "env")]
        environment: String,
        #[arg(long)]
        cluster: Option<String>,
        /// Revision (git sha or tag) to render into the chart.
        #[arg(long)]
        revision: Option<String>,
        /// Show, for each values key, which file set it.
        #[arg(long)]
        explain: bool,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Run an AnalysisTemplate from a file against its real providers and show every measurement.
    Analyze {
        /// YAML file holding the template (a rendered chart is fine).
        file: PathBuf,
        /// Which template, when the file holds several.
        #[arg(long)]
        template: Option<String>,
        /// Argument values, `name=value`.
        #[arg(long = "arg")]
        args: Vec<String>,
        /// Base URL of a pod to scrape for podScrape metrics (repeatable).
        #[arg(long = "endpoint")]
        endpoints: Vec<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Run a real canary of the helpdesk on this machine: a good release is promoted, a bad one rolled back.
    Demo {
        /// `fast` uses the demo values' 2 s analysis windows; `normal` 10 s.
        #[arg(long, value_enum, default_value_t = Speed::Fast)]
        speed: Speed,
        #[arg(long, value_enum, default_value_t = Scenario::Both)]
        scenario: Scenario,
        /// Requests per second sent through the proxy.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// Analyse with a real Prometheus (started on a free port) instead of scraping the pods.
        #[arg(long)]
        prometheus: bool,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Run the operator: the Rollout and AnalysisRun controllers (in-cluster config or KUBECONFIG).
    Controller {
        /// Watch one namespace only; every namespace when absent.
        #[arg(long)]
        namespace: Option<String>,
        /// Where /metrics, /healthz and /readyz are served.
        #[arg(long, default_value = "0.0.0.0:8080")]
        metrics_addr: std::net::SocketAddr,
        /// Run without a leader lease (only ever one replica).
        #[arg(long)]
        no_leader_election: bool,
        #[arg(long, default_value = "conductor-controller")]
        lease_name: String,
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        /// This replica's name in the lease; the pod name in a cluster.
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        #[arg(long, value_enum, default_value_t = LogFormat::Json)]
        log_format: LogFormat,
    },
    /// Act on a Rollout in a cluster: status, get, promote, abort, retry, undo, restart.
    Rollout {
        #[arg(long, short = 'n', global = true, env = "CONDUCTOR_NAMESPACE")]
        namespace: Option<String>,
        #[command(subcommand)]
        action: crate::rollout_cli::RolloutCommand,
    },
    /// Print the manifests helm renders for one cluster.
    Render {
        service: String,
        #[arg(long = "env")]
        environment: String,
        #[arg(long)]
        cluster: String,
        #[arg(long)]
        revision: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Speed {
    Fast,
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Good,
    Bad,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Yaml,
    Json,
}

pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> Result<ExitCode, String> {
    let repo = cli.repo;
    match cli.command {
        Command::Crds { out_dir } => {
            for crd in crd::all() {
                let yaml = crd::to_yaml(&crd).map_err(|e| e.to_string())?;
                match &out_dir {
                    Some(dir) => {
                        let path = dir.join(crd::file_name(&crd));
                        std::fs::create_dir_all(dir)
                            .and_then(|()| std::fs::write(&path, yaml))
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                        println!("wrote {}", path.display());
                    }
                    None => print!("---\n{yaml}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate => {
            let report = validate::validate(&repo).await;
            for line in &report.checked {
                println!("checked {line}");
            }
            if report.problems.is_empty() {
                println!("valid: no problems");
                Ok(ExitCode::SUCCESS)
            } else {
                for problem in &report.problems {
                    println!("{problem}");
                }
                println!("{} problem(s)", report.problems.len());
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Plan {
            service,
            environment,
            cluster,
            revision,
            explain,
            output,
        } => {
            let request = PlanRequest {
                repo: &repo,
                service: &service,
                environment: &environment,
                cluster: cluster.as_deref(),
                revision: revision.as_deref(),
                explain,
            };
            let report = plan::plan(&request).await.map_err(|e| e.to_string())?;
            let text = match output {
                Output::Text => plan::to_text(&report),
                Output::Yaml => serde_yaml::to_string(&report).map_err(|e| e.to_string())?,
                Output::Json => {
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n"
                }
            };
            print!("{text}");
            if report.problems.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                if output != Output::Text {
                    for problem in &report.problems {
                        eprintln!("{problem}");
                    }
                }
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Analyze {
            file,
            template,
            args,
            endpoints,
            output,
        } => {
            let (name, spec) =
                analyze::load_template(&file, template.as_deref()).map_err(|e| e.to_string())?;
            let args = args
                .iter()
                .map(|a| analyze::parse_arg(a))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("--arg {e}"))?;
            let live = output == Output::Text;
            let mut printed: Vec<i32> = Vec::new();
            let run = analyze::analyze(&name, &spec, &args, endpoints, |run| {
                if !live {
                    return;
                }
                printed.resize(run.results.len(), 0);
                for (result, seen) in run.results.iter().zip(printed.iter_mut()) {
                    let new = usize::try_from(result.count - *seen).unwrap_or(0);
                    for m in result.measurements.iter().rev().take(new).rev() {
                        eprintln!(
                            "{} {}: {} value={} {}",
                            m.finished_at.as_deref().unwrap_or(""),
                            result.name,
                            m.phase,
                            m.value.as_deref().unwrap_or("-"),
                            m.message.as_deref().unwrap_or("")
                        );
                    }
                    *seen = result.count;
                }
            })
            .await
            .map_err(|e| e.to_string())?;
            let status = run.status();
            let text = match output {
                Output::Text => crate::analysis::table::render(&name, &status),
                Output::Yaml => serde_yaml::to_string(&status).map_err(|e| e.to_string())?,
                Output::Json => {
                    serde_json::to_string_pretty(&status).map_err(|e| e.to_string())? + "\n"
                }
            };
            print!("{text}");
            Ok(if status.phase.as_deref() == Some("Successful") {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Demo {
            speed,
            scenario,
            rate,
            prometheus,
            output,
        } => {
            let options = demo::Options {
                repo,
                slow: speed == Speed::Normal,
                releases: demo::releases(scenario != Scenario::Bad, scenario != Scenario::Good),
                rate,
                live: output == Output::Text,
                prometheus,
            };
            // Ctrl-C or SIGTERM drops the demo, which stops every process it started.
            let report = tokio::select! {
                report = demo::run(options) => report.map_err(|e| e.to_string())?,
                _ = interrupted() => return Err("interrupted: every process the demo started is stopped".into()),
            };
            match output {
                Output::Text => print!("{}", report.summary()),
                Output::Yaml => print!(
                    "{}",
                    serde_yaml::to_string(&report).map_err(|e| e.to_string())?
                ),
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                ),
            }
            Ok(if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Render {
            service,
            environment,
            cluster,
            revision,
        } => {
            let service = config::load_service(&repo, &service).map_err(|e| e.to_string())?;
            let environment = service
                .environment(&environment)
                .map_err(|e| e.to_string())?;
            let cluster = environment
                .cluster(&service.file, &cluster)
                .map_err(|e| e.to_string())?;
            let helm = Helm::locate(&repo).await.map_err(|e| e.to_string())?;
            let rendered = render::render_cluster(
                &helm,
                &repo,
                &service,
                &environment.name,
                cluster,
                revision.as_deref(),
            )
            .await
            .map_err(|e| e.to_string())?;
            print!("{}", rendered.manifest);
            Ok(ExitCode::SUCCESS)
        }
        Command::Controller {
            namespace,
            metrics_addr,
            no_leader_election,
            lease_name,
            lease_namespace,
            identity,
            log_format,
        } => {
            init_logs(log_format);
            let client = kube_client().await?;
            let identity = identity.unwrap_or_else(default_identity);
            let lease = (!no_leader_election).then(|| LeaseConfig {
                namespace: lease_namespace,
                name: lease_name,
                identity,
                duration: std::time::Duration::from_secs(15),
                renew_every: std::time::Duration::from_secs(5),
            });
            let options = controller::Options {
                namespace,
                metrics_addr: Some(metrics_addr),
                lease,
            };
            controller::run(client, options, interrupted(), |running| {
                if let Some(addr) = running.metrics_addr {
                    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
                }
            })
            .await
            .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rollout { namespace, action } => {
            let client = kube_client().await?;
            let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_owned());
            let mut out = std::io::stdout();
            let code = crate::rollout_cli::execute(client, &namespace, action, &mut out)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::from(code))
        }
    }
}

/// The cluster from KUBECONFIG (or ~/.kube/config) or the pod's service account.
async fn kube_client() -> Result<kube::Client, String> {
    kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach a cluster (set KUBECONFIG or run in a pod): {e}"))
}

fn default_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "conductor".into());
    format!("{host}-{}", std::process::id())
}

/// JSON lines for log collectors, or text for a terminal; `RUST_LOG` filters.
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
