//! Authorizing a request: the [`crate::AccessRule`]s first (they take
//! access away whatever RBAC says), then, once
//! [`crate::FakeApi::enforce_rbac`] was called, RBAC over the roles and
//! bindings stored. Every RBAC decision is recorded: what each user was
//! allowed and by which rule, and every 403.

use crate::access::{self, Attributes};
use crate::error::ApiError;
use crate::rbac::{self, Target};
use crate::record::{Denial, Grant};
use crate::shared::{Shared, lock};
use crate::store::Store;
use crate::user::User;

fn deny(shared: &Shared, user: &User, err: ApiError, by_rule: bool) -> ApiError {
    lock(&shared.authz.denials).push(Denial {
        user: user.name.clone(),
        pod: user.pod.clone(),
        message: err.message.clone(),
        by_rule,
    });
    err
}

fn grant(shared: &Shared, user: &User, target: Target<'_>, allowed: rbac::Allowed, review: bool) {
    let (verb, group, resource, namespace) = match target {
        Target::Resource(a) => (
            a.verb.clone(),
            a.group.clone(),
            a.resource_path(),
            a.namespace.clone(),
        ),
        Target::NonResource { verb, path } => {
            (verb.to_string(), String::new(), path.to_string(), None)
        }
    };
    lock(&shared.authz.grants).insert(Grant {
        user: user.name.clone(),
        verb,
        group,
        resource,
        namespace,
        role: allowed.role,
        rule: allowed.rule,
        by_review: review,
    });
}

/// Whether RBAC allows `target`, with the authorizer's reason either way;
/// always allowed while RBAC is not enforced. An allowed request is
/// recorded as a grant. `store` is the store when the caller holds its
/// lock already; it is taken only when RBAC is enforced otherwise.
fn decide(
    shared: &Shared,
    store: Option<&Store>,
    user: &User,
    target: Target<'_>,
    by_review: bool,
) -> Result<String, String> {
    if !shared.authz.enforced() {
        return Ok("allowed by the fake API server".to_string());
    }
    let decision = match store {
        Some(store) => rbac::authorize(store, user, target),
        None => rbac::authorize(&shared.lock(), user, target),
    }?;
    let reason = decision.reason.clone();
    grant(shared, user, target, decision, by_review);
    Ok(reason)
}

/// Authorizes a resource request before it is served.
pub(crate) fn authorize(shared: &Shared, user: &User, attrs: &Attributes) -> Result<(), ApiError> {
    if access::denied(&lock(&shared.denied), &user.name, attrs) {
        return Err(deny(
            shared,
            user,
            access::forbidden(&user.name, attrs, ""),
            true,
        ));
    }
    decide(shared, None, user, Target::Resource(attrs), false)
        .map(drop)
        .map_err(|reason| {
            deny(
                shared,
                user,
                access::forbidden(&user.name, attrs, &reason),
                false,
            )
        })
}

/// Authorizes the `create` a server-side apply does when it finds nothing
/// to patch, with the store already locked for the write.
pub(crate) fn authorize_create(
    shared: &Shared,
    store: &Store,
    user: &User,
    attrs: &Attributes,
) -> Result<(), ApiError> {
    let create = attrs.with_verb("create");
    if access::denied(&lock(&shared.denied), &user.name, &create) {
        return Err(deny(
            shared,
            user,
            access::forbidden_create(&create, ""),
            true,
        ));
    }
    decide(shared, Some(store), user, Target::Resource(&create), false)
        .map(drop)
        .map_err(|reason| {
            deny(
                shared,
                user,
                access::forbidden_create(&create, &reason),
                false,
            )
        })
}

/// Authorizes a request for a plain URL (discovery, `/version`).
pub(crate) fn authorize_path(
    shared: &Shared,
    user: &User,
    verb: &str,
    path: &str,
) -> Result<(), ApiError> {
    let target = Target::NonResource { verb, path };
    decide(shared, None, user, target, false)
        .map(drop)
        .map_err(|reason| {
            deny(
                shared,
                user,
                access::forbidden_path(&user.name, verb, path, &reason),
                false,
            )
        })
}

/// A SelfSubjectAccessReview's answer: whether `attrs` would be allowed,
/// and the authorizer's reason.
pub(crate) fn review(shared: &Shared, user: &User, attrs: &Attributes) -> (bool, String) {
    if access::denied(&lock(&shared.denied), &user.name, attrs) {
        return (false, "denied by a FakeApi access rule".to_string());
    }
    reviewed(shared, user, Target::Resource(attrs))
}

/// The same for a plain URL.
pub(crate) fn review_path(shared: &Shared, user: &User, verb: &str, path: &str) -> (bool, String) {
    reviewed(shared, user, Target::NonResource { verb, path })
}

fn reviewed(shared: &Shared, user: &User, target: Target<'_>) -> (bool, String) {
    match decide(shared, None, user, target, true) {
        Ok(reason) => (true, reason),
        Err(reason) => (false, reason),
    }
}
