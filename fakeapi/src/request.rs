//! A request as the handlers see it, and what they answer.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::ownership::{ManagerKey, Operation};
use crate::query::Query;
use crate::response::ResponseBody;
use crate::user::User;
use crate::writes::Managed;

/// A request as the router and the handlers read it.
pub(crate) struct Incoming<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Query,
    pub content_type: &'a str,
    pub body: Bytes,
    /// Who sent the request.
    pub user: &'a User,
    /// The client's name as its User-Agent gives it (in process: the
    /// user's name).
    pub agent: &'a str,
}

impl Incoming<'_> {
    /// The field manager of a non-apply write: the `fieldManager` parameter,
    /// or the client's name as the real server takes it from the User-Agent
    /// (`kubectl/v1.35 ...` manages as `kubectl`).
    pub fn updater(&self, subresource: &str) -> Managed {
        let manager = match self.query.get("fieldManager").filter(|m| !m.is_empty()) {
            Some(m) => m,
            None => self.agent.split('/').next().unwrap_or_default(),
        };
        Managed::Update(ManagerKey::new(manager, Operation::Update, subresource))
    }
}

/// A response, and the object as stored when the request wrote one.
pub(crate) type Served = (Response<ResponseBody>, Option<Arc<Value>>);

pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("request body is empty"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))
}
