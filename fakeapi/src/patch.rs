//! Non-apply PATCH bodies, chosen by Content-Type.

use serde_json::Value;

use crate::error::ApiError;

pub(crate) enum Patch {
    /// RFC 7386. `application/strategic-merge-patch+json` is treated as a
    /// plain merge patch: without schemas the fake cannot know list merge
    /// keys, so lists in a strategic patch replace the stored list whole.
    Merge(Value),
    /// RFC 6902, including `test` operations.
    Json(json_patch::Patch),
}

impl Patch {
    pub fn parse(content_type: &str, body: &[u8]) -> Result<Self, ApiError> {
        match content_type {
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                let value = crate::request::parse_json(body)?;
                if !value.is_object() {
                    return Err(ApiError::bad_request(
                        "merge patch body must be a JSON object",
                    ));
                }
                Ok(Self::Merge(value))
            }
            "application/json-patch+json" => serde_json::from_slice(body)
                .map(Self::Json)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}"))),
            other => Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format: {other:?}"),
            )),
        }
    }

    pub fn apply_to(&self, doc: &mut Value) -> Result<(), ApiError> {
        match self {
            Self::Merge(p) => {
                json_patch::merge(doc, p);
                Ok(())
            }
            Self::Json(p) => json_patch::patch(doc, &p.0).map_err(|e| {
                ApiError::invalid(format!("the JSON patch could not be applied: {e}"))
            }),
        }
    }
}
