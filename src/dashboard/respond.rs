//! Pages as HTTP responses, each with the headers that keep a page of
//! user-supplied text safe: the script allowed by hash only, no framing
//! (the confirmation page must not be clickjacked), no sniffing.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::error::DashboardError;
use super::page::error_page;
use super::script::content_security_policy;

pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    secure(&mut response);
    response
}

pub fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = self.status();
        html(status, error_page(status.as_u16(), &self.to_string()))
    }
}
