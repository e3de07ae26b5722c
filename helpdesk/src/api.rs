//! The HTTP API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::db::Db;
use crate::error::ApiError;
use crate::faults::Faults;
use crate::metrics::{HttpMethod, Metrics, RequestLabels, Route, RouteLabels};
use crate::model::{self, Assignment, NewCustomer, NewMessage, NewTicket};
use crate::store::{self, Filter};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct App {
    pub db: Db,
    pub metrics: Metrics,
    pub faults: Faults,
    pub token: Option<String>,
    pub version: String,
}

type Shared = State<Arc<App>>;

pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/customers", post(create_customer))
        .route("/customers/{id}", get(get_customer))
        .route("/tickets", post(create_ticket).get(list_tickets))
        .route("/tickets/{id}", get(get_ticket))
        .route("/tickets/{id}/messages", post(add_message))
        .route("/tickets/{id}/assign", post(assign))
        .route("/tickets/{id}/close", post(close))
        .route("/tickets/{id}/reopen", post(reopen))
        .route("/channels", get(channels))
        .route("/tags", get(tags))
        .layer(middleware::from_fn_with_state(app.clone(), guard));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .merge(api)
        .fallback(|| async { ApiError::NotFound("route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(app.clone(), measure))
        .with_state(app)
}

/// Counts and times every request by its route template.
async fn measure(State(app): Shared, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = RouteLabels {
        method: HttpMethod::from(request.method()),
        route: Route(request.extensions().get::<MatchedPath>().cloned()),
    };
    let response = next.run(request).await;
    app.metrics
        .durations
        .get_or_create(&route)
        .observe(started.elapsed().as_secs_f64());
    app.metrics
        .requests
        .get_or_create(&RequestLabels {
            method: route.method,
            route: route.route,
            code: response.status().as_u16(),
        })
        .inc();
    response
}

/// Injected faults and write authentication, for API routes only:
/// health and metrics stay truthful and open.
async fn guard(State(app): Shared, request: Request, next: Next) -> Response {
    if !app.faults.latency.is_zero() {
        tokio::time::sleep(app.faults.latency).await;
    }
    if app.faults.should_fail() {
        return ApiError::Injected.into_response();
    }
    if request.method() != Method::GET
        && let Some(token) = &app.token
    {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match json {
        Ok(Json(value)) => Ok(value),
        Err(JsonRejection::BytesRejection(_)) => Err(ApiError::TooLarge(MAX_BODY_BYTES)),
        Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadJson(
            "send Content-Type: application/json".into(),
        )),
        Err(e) => Err(ApiError::BadJson(e.body_text())),
    }
}

/// The `{id}` of a path: a positive number. A path the router cannot
/// decode (percent-escapes that are not UTF-8) is a bad id too, answered in
/// JSON like every other error.
fn id(path: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(text) = path.map_err(|e| ApiError::invalid("id", e.body_text()))?;
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid("id", format!("`{text}` is not a positive number")))
}

async fn readyz(State(app): Shared) -> Response {
    if app.db.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

async fn version(State(app): Shared) -> Json<serde_json::Value> {
    Json(json!({"version": app.version, "build": env!("CARGO_PKG_VERSION")}))
}

async fn metrics(State(app): Shared) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

async fn create_customer(
    State(app): Shared,
    json: Result<Json<NewCustomer>, JsonRejection>,
) -> Result<Response, ApiError> {
    let new = body(json)?;
    new.validate()?;
    let created = store::create_customer(&app.db, new).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn get_customer(
    State(app): Shared,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    Ok(Json(store::get_customer(&app.db, id(path)?).await?).into_response())
}

async fn create_ticket(
    State(app): Shared,
    json: Result<Json<NewTicket>, JsonRejection>,
) -> Result<Response, ApiError> {
    let new = body(json)?;
    new.validate()?;
    let created = store::create_ticket(&app.db, new).await?;
    app.metrics.tickets_created.inc();
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn get_ticket(
    State(app): Shared,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    Ok(Json(store::get_ticket(&app.db, id(path)?).await?).into_response())
}

async fn list_tickets(
    State(app): Shared,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let mut filter = Filter {
        limit: 20,
        ..Filter::default()
    };
    for (key, value) in &params {
        match key.as_str() {
            "status" => {
                model::check_status(value)?;
                filter.status = Some(value.clone());
            }
            "channel" => {
                model::check_channel(value)?;
                filter.channel = Some(value.clone());
            }
            "customer_id" => {
                filter.customer_id = Some(
                    value
                        .parse()
                        .map_err(|_| ApiError::invalid("customer_id", "must be a number"))?,
                );
            }
            "tag" => filter.tag = Some(value.clone()),
            "limit" => {
                filter.limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| ApiError::invalid("limit", "must be 1 to 100"))?;
            }
            "cursor" => {
                filter.after = value
                    .strip_prefix("t")
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| {
                        ApiError::invalid("cursor", "use the next_cursor of a previous page")
                    })?;
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown filter; use status, channel, customer_id, tag, limit or cursor",
                ));
            }
        }
    }
    let (items, more) = store::list_tickets(&app.db, &filter).await?;
    let next = more
        .then(|| items.last().map(|t| format!("t{}", t.id)))
        .flatten();
    Ok(Json(json!({"items": items, "next_cursor": next})).into_response())
}

async fn add_message(
    State(app): Shared,
    path: Result<Path<String>, PathRejection>,
    json: Result<Json<NewMessage>, JsonRejection>,
) -> Result<Response, ApiError> {
    let ticket = id(path)?;
    let new = body(json)?;
    new.validate()?;
    let created = store::add_message(&app.db, ticket, new).await?;
    app.metrics.messages_added.inc();
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn assign(
    State(app): Shared,
    path: Result<Path<String>, PathRejection>,
    json: Result<Json<Assignment>, JsonRejection>,
) -> Result<Response, ApiError> {
    let ticket = id(path)?;
    let new = body(json)?;
    new.validate()?;
    Ok(Json(store::assign(&app.db, ticket, &new.assignee).await?).into_response())
}

async fn close(
    State(app): Shared,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let closed = store::set_status(&app.db, id(path)?, "open", "closed").await?;
    app.metrics.tickets_closed.inc();
    Ok(Json(closed).into_response())
}

async fn reopen(
    State(app): Shared,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    Ok(Json(store::set_status(&app.db, id(path)?, "closed", "open").await?).into_response())
}

async fn channels() -> Json<serde_json::Value> {
    Json(json!(model::CHANNELS))
}

async fn tags(State(app): Shared) -> Result<Response, ApiError> {
    let counts: Vec<_> = store::tags(&app.db)
        .await?
        .into_iter()
        .map(|(tag, tickets)| json!({"tag": tag, "tickets": tickets}))
        .collect();
    Ok(Json(counts).into_response())
}
