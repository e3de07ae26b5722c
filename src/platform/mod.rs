//! Where the engine's desired world is made real. `local` runs revisions
//! as processes on this machine behind a weighted proxy (the embedded
//! default for `conductor demo`); `kubernetes` is the operator.

pub mod kubernetes;
pub mod local;

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// FNV-1a over the pod template: the revision's identity, as Kubernetes'
/// pod-template hash is. Both platforms name revisions with it, so a
/// template means the same revision wherever it runs.
pub fn template_hash(template: Option<&PodTemplateSpec>) -> String {
    let text = serde_json::to_string(&template).unwrap_or_default();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", hash >> 32)
}
