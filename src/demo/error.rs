//! Why the demo could not run.

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error(transparent)]
    Replica(#[from] crate::platform::local::replicas::ReplicaError),
    #[error("{0}")]
    Setup(String),
}
