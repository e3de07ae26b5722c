//! What a deploy writes on every object it applies, and the field managers
//! whose fields it leaves alone.

/// Field manager of every deploy write.
pub const FIELD_MANAGER: &str = "conductor-deploy";
/// On every applied object: which service's deploys own it, so prune
/// never touches anything else.
pub const DEPLOYED_BY_LABEL: &str = "conductor.dev/deployed-by";
pub const ENVIRONMENT_LABEL: &str = "conductor.dev/environment";
/// The deploy generation an object was applied under; a deploy never
/// overwrites an object carrying a newer one.
pub const GENERATION_ANNOTATION: &str = "conductor.dev/deploy-generation";
/// The commit an object was applied from.
pub const COMMIT_ANNOTATION: &str = "conductor.dev/deploy-commit";

/// The deploy generation an object was applied under, if any.
pub(super) fn deploy_generation<K: kube::Resource>(object: &K) -> Option<u64> {
    object
        .meta()
        .annotations
        .as_ref()?
        .get(GENERATION_ANNOTATION)?
        .parse()
        .ok()
}

/// Field managers that set fields at runtime: the controller's writers
/// (weights, selectors, replica scales, status) and the autoscaler's scale
/// writes. A deploy leaves the fields they own to them.
pub fn runtime_managers() -> impl Iterator<Item = &'static str> {
    crate::platform::kubernetes::managers::RUNTIME
        .into_iter()
        .chain(["kube-controller-manager"])
}
