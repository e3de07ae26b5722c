#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// Named `kubectl-conductor`, the binary is a kubectl plugin:
/// `kubectl conductor promote helpdesk` is `conductor rollout promote helpdesk`.
fn arguments() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if invoked_as.starts_with("kubectl-conductor") {
        let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
        let is_rollout_action = first.as_deref().is_some_and(|a| {
            [
                "status", "get", "promote", "abort", "retry", "undo", "restart",
            ]
            .contains(&a)
        });
        if is_rollout_action {
            args.insert(1, "rollout".into());
        }
    }
    args
}

fn main() -> ExitCode {
    let cli = conductor::cli::Cli::parse_from(arguments());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(conductor::cli::run(cli))
}
