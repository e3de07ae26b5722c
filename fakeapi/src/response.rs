//! HTTP response construction.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use serde_json::Value;

use crate::error::ApiError;

/// The body of every response the fake sends: a whole JSON document or a
/// stream of watch events.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

pub(crate) fn json(code: u16, value: &Value) -> Response<ResponseBody> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    build(code, Full::new(Bytes::from(bytes)).boxed_unsync())
}

pub(crate) fn error(err: &ApiError) -> Response<ResponseBody> {
    json(err.code, &err.to_status())
}

/// What a real API server's mux answers for a path nothing serves: no
/// `Status`, just text.
pub(crate) fn page_not_found() -> Response<ResponseBody> {
    let mut res = build(
        404,
        Full::new(Bytes::from_static(b"404 page not found\n")).boxed_unsync(),
    );
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

pub(crate) fn build(code: u16, body: ResponseBody) -> Response<ResponseBody> {
    let mut res = Response::new(body);
    *res.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    res
}
