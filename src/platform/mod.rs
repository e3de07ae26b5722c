//! Where the engine's desired world is made real. `local` runs revisions
//! as processes on this machine behind a weighted proxy (the embedded
//! default for `conductor demo`).

pub mod local;
