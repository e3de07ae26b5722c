//! Failures rendered as the `meta/v1 Status` bodies a real API server sends,
//! so kube's `Error::Api` carries the same code and reason a test would see
//! against a cluster.

use std::fmt;

use serde_json::{Map, Value, json};

/// A failed request: HTTP code, machine-readable reason and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code, e.g. 404.
    pub code: u16,
    /// Kubernetes `StatusReason`, e.g. `NotFound`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// `details` of the Status: what was addressed and why it failed
    /// (boxed: most errors have none, and `Result`s stay small).
    pub details: Option<Box<StatusDetails>>,
}

/// The `details` of a `Status`, as the real server fills them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusDetails {
    pub name: Option<String>,
    pub group: Option<String>,
    /// The resource plural for Forbidden, as the real server puts it.
    pub kind: Option<String>,
    /// Field-level causes, e.g. one per apply conflict.
    pub causes: Vec<StatusCause>,
}

/// One `details.causes` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCause {
    /// e.g. `FieldManagerConflict`.
    pub reason: String,
    pub message: String,
    /// The field path, e.g. `.spec.rules`.
    pub field: String,
}

impl ApiError {
    /// An error with an explicit code, reason and message.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    /// The same error with `details.causes`.
    pub fn with_causes(mut self, causes: Vec<StatusCause>) -> Self {
        self.details.get_or_insert_with(Default::default).causes = causes;
        self
    }

    /// The same error with `details`.
    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// An error for `code` with the reason Kubernetes uses for that code.
    pub fn from_code(code: u16, message: impl Into<String>) -> Self {
        Self::new(code, reason_for(code), message)
    }

    pub(crate) fn not_found(resource: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
    }

    pub(crate) fn not_found_path(message: String) -> Self {
        Self::new(404, "NotFound", message)
    }

    pub(crate) fn already_exists(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        )
    }

    pub(crate) fn conflict(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    pub(crate) fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// The `Status` object a real API server would send for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(d) = &self.details {
            let mut details = Map::new();
            for (field, value) in [("name", &d.name), ("group", &d.group), ("kind", &d.kind)] {
                if let Some(v) = value {
                    details.insert(field.into(), Value::from(v.as_str()));
                }
            }
            if !d.causes.is_empty() {
                let causes = d
                    .causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}));
                details.insert("causes".into(), Value::Array(causes.collect()));
            }
            status["details"] = Value::Object(details);
        }
        status["code"] = Value::from(self.code);
        status
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The `StatusReason` the API server pairs with an HTTP code.
pub(crate) fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}
