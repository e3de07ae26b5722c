//! The helpdesk ticketing service. Issue 4 builds the API; until then the
//! binary only reports its version so the workspace and chart have a target.
#![forbid(unsafe_code)]

fn main() {
    println!("helpdesk {}", env!("CARGO_PKG_VERSION"));
}
