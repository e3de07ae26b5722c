//! `conductor crds`: the CRDs generated from `src/crd`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::crd;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode, String> {
    for crd in crd::all() {
        let yaml = crd::to_yaml(&crd).map_err(|e| e.to_string())?;
        match &args.out_dir {
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
