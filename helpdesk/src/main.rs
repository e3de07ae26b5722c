//! The helpdesk's command line: serve the API, or migrate the database.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use helpdesk::{App, Backend, Db, Faults, Metrics, SCHEMA_VERSION, router};

#[derive(Parser)]
#[command(name = "helpdesk", version, about = "Ticketing service")]
struct Cli {
    /// sqlite://FILE?mode=rwc, sqlite::memory:, or postgres://...
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "sqlite://helpdesk.db?mode=rwc"
    )]
    database: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API.
    Serve {
        /// Address to listen on; port 0 picks a free one (printed on start).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Bearer token required on writes; reads and health stay open.
        #[arg(long, env = "HELPDESK_API_TOKEN", hide_env_values = true)]
        api_token: Option<String>,
        /// Fraction of API requests to answer 500, for rehearsing a bad release.
        #[arg(long, env = "HELPDESK_ERROR_RATE", default_value_t = 0.0)]
        error_rate: f64,
        /// Latency added to every API request.
        #[arg(long, env = "HELPDESK_LATENCY_MS", default_value_t = 0)]
        latency_ms: u64,
        /// Version label reported by /version and /metrics.
        #[arg(long, env = "HELPDESK_VERSION", default_value = env!("CARGO_PKG_VERSION"))]
        version_label: String,
    },
    /// Bring the database schema up to date.
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let db = Db::open(&cli.database).await.map_err(|e| e.to_string())?;
    match cli.command {
        Command::Migrate => {
            let applied = db.migrate().await.map_err(|e| e.to_string())?;
            println!(
                "schema at version {} ({} applied)",
                SCHEMA_VERSION,
                applied.len()
            );
            Ok(())
        }
        Command::Serve {
            listen,
            api_token,
            error_rate,
            latency_ms,
            version_label,
        } => {
            // The embedded database belongs to this process; a shared
            // PostgreSQL is migrated once, by `helpdesk migrate`.
            if db.backend == Backend::Sqlite {
                db.migrate().await.map_err(|e| e.to_string())?;
            }
            db.check_schema().await.map_err(|e| e.to_string())?;
            let app = Arc::new(App {
                db,
                metrics: Metrics::new(&version_label),
                faults: Faults::new(error_rate, latency_ms)?,
                token: api_token.filter(|t| !t.is_empty()),
                version: version_label,
            });
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            println!("helpdesk {} listening on http://{address}", app.version);
            axum::serve(listener, router(app))
                .with_graceful_shutdown(shutdown())
                .await
                .map_err(|e| e.to_string())
        }
    }
}

/// SIGTERM or Ctrl-C: stop accepting, finish in-flight requests, exit.
async fn shutdown() {
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
