//! The URLs and their handlers; each handler resolves the names in its
//! URL, reads what its page needs and hands it to a pure renderer.
//!
//! ```text
//! /                                                         every cluster, from the ledger
//! /services/<s>/changes?from=<sha>&to=<sha>                 the commits between two revisions
//! /services/<s>/<env>/<cluster>                             a cluster: ledger record, Rollouts, history
//! /services/<s>/<env>/<cluster>/rollouts/<r>                a Rollout, live
//! /services/<s>/<env>/<cluster>/rollouts/<r>/live           its server-sent events
//! /services/<s>/<env>/<cluster>/rollouts/<r>/actions/<a>    confirm (GET) and do (POST) promote, abort, retry
//! ```

use std::future::{Future, IntoFuture};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use jiff::Timestamp;
use kube::Api;
use serde::Deserialize;
use tokio::net::TcpListener;

use super::action::{Action, Notice};
use super::actions::{perform, render_confirm};
use super::cluster_page::{self, ClusterView, RolloutLine};
use super::error::DashboardError;
use super::resolve::{self, Target};
use super::respond::{html, secure};
use super::rollout_page::{Place, Seen, render_page};
use super::state::Dashboard;
use super::{changes, front, git_reader, live, world};
use crate::crd::rollout::Rollout;
use crate::engine;
use crate::gitops::location::LedgerLocation;

type Shared = State<Arc<Dashboard>>;
type Handled = Result<Response, DashboardError>;

pub fn router(dashboard: Arc<Dashboard>) -> Router {
    let rollout = "/services/{service}/{environment}/{cluster}/rollouts/{rollout}";
    Router::new()
        .route("/", get(front_page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/services/{service}/changes", get(changes_page))
        .route("/services/{service}/{environment}/{cluster}", get(cluster))
        .route(rollout, get(rollout_page))
        .route(&format!("{rollout}/live"), get(live_stream))
        .route(
            &format!("{rollout}/actions/{{action}}"),
            get(confirm).post(act),
        )
        .fallback(|| async { DashboardError::NotFound("no such page".into()).into_response() })
        .with_state(dashboard)
}

/// Serves until `shutdown` resolves; open live streams end with it.
pub async fn serve(
    dashboard: Arc<Dashboard>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DashboardError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let server = axum::serve(listener, router(dashboard)).into_future();
    tokio::select! {
        served = server => served.map_err(|source| DashboardError::Listen { addr, source }),
        () = shutdown => Ok(()),
    }
}

async fn front_page(State(dashboard): Shared) -> Response {
    let overview = dashboard.ledgers.overview(&dashboard.repo).await;
    html(StatusCode::OK, front::render(&overview, Timestamp::now()))
}

#[derive(Deserialize)]
struct Between {
    from: String,
    to: String,
}

async fn changes_page(
    State(dashboard): Shared,
    Path(service): Path<String>,
    Query(between): Query<Between>,
) -> Handled {
    let service = resolve::service(&dashboard, &service)?;
    let changes =
        git_reader::changes(dashboard.source.clone(), &service, between.from, between.to).await?;
    Ok(html(
        StatusCode::OK,
        changes::render(&changes, Timestamp::now()),
    ))
}

async fn cluster(
    State(dashboard): Shared,
    Path((service, environment, cluster)): Path<(String, String, String)>,
) -> Handled {
    let target = resolve::target(&dashboard, &service, &environment, &cluster)?;
    let ledgers = &dashboard.ledgers;
    let snapshot = ledgers
        .environment(&dashboard.repo, &target.service, &target.environment)
        .await?;
    let history = ledgers
        .history(
            &dashboard.repo,
            &target.service,
            &target.environment,
            &target.cluster.name,
        )
        .await?;
    let record = snapshot.clusters.get(&target.cluster.name).cloned();
    let recorded: Vec<(String, String)> = record
        .iter()
        .flat_map(|r| &r.applied.objects)
        .filter(|o| o.kind == "Rollout")
        .map(|o| {
            let namespace = o.namespace.clone();
            (
                o.name.clone(),
                namespace.unwrap_or_else(|| target.cluster.namespace.clone()),
            )
        })
        .collect();
    let rollouts = rollout_lines(&dashboard, &target, recorded).await;
    let view = ClusterView {
        service: target.service.name.clone(),
        environment: target.environment.clone(),
        compare_url: target.service.compare_url.clone(),
        ledger: git_reader::shown(&LedgerLocation::of_service(
            &dashboard.repo,
            &target.service.ledger,
        )),
        cluster: target.cluster,
        record,
        rollouts,
        history,
    };
    Ok(html(
        StatusCode::OK,
        cluster_page::render(&view, Timestamp::now()),
    ))
}

/// Each recorded Rollout with the engine's word for it now.
async fn rollout_lines(
    dashboard: &Dashboard,
    target: &Target,
    recorded: Vec<(String, String)>,
) -> Vec<RolloutLine> {
    let client = dashboard.clusters.client(&target.cluster).await;
    let mut lines = Vec::new();
    for (name, namespace) in recorded {
        let now = match &client {
            Err(e) => Err(e.to_string()),
            Ok(client) => {
                let api: Api<Rollout> = Api::namespaced(client.clone(), &namespace);
                match tokio::time::timeout(world::READ_TIMEOUT, api.get_opt(&name)).await {
                    Ok(Ok(rollout)) => Ok(rollout.map(|r| {
                        engine::outcome(r.metadata.generation, &r.spec, r.status.as_ref())
                    })),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!(
                        "no answer within {}s",
                        world::READ_TIMEOUT.as_secs()
                    )),
                }
            }
        };
        lines.push(RolloutLine {
            name,
            namespace,
            now,
        });
    }
    lines
}

#[derive(Deserialize)]
struct PageQuery {
    notice: Option<String>,
}

async fn rollout_page(
    State(dashboard): Shared,
    Path((service, environment, cluster, rollout)): Path<(String, String, String, String)>,
    Query(query): Query<PageQuery>,
) -> Handled {
    let target = resolve::target(&dashboard, &service, &environment, &cluster)?;
    let place = resolve::place(&dashboard, &target, &rollout).await;
    let read = match dashboard.clusters.client(&target.cluster).await {
        Ok(client) => world::read(&client, &place.cluster, &place.namespace, &place.name).await,
        Err(e) => Err(e),
    };
    let seen = match &read {
        Ok(Some(world)) => Seen::Rollout(world),
        Ok(None) => Seen::Missing,
        Err(e) => Seen::Unreadable(e.to_string()),
    };
    let status = match &read {
        Ok(Some(_)) => StatusCode::OK,
        Ok(None) => StatusCode::NOT_FOUND,
        Err(e) => e.status(),
    };
    let notice = query.notice.as_deref().and_then(Notice::from_code);
    Ok(html(
        status,
        render_page(
            &place,
            seen,
            Timestamp::now(),
            dashboard.actions_enabled(),
            notice,
        ),
    ))
}

async fn live_stream(
    State(dashboard): Shared,
    Path((service, environment, cluster, rollout)): Path<(String, String, String, String)>,
) -> Handled {
    let target = resolve::target(&dashboard, &service, &environment, &cluster)?;
    let place = resolve::place(&dashboard, &target, &rollout).await;
    let client = dashboard.clusters.client(&target.cluster).await?;
    let updates = live::updates(client, place, dashboard.refresh);
    let mut response = Sse::new(updates)
        .keep_alive(KeepAlive::default())
        .into_response();
    secure(&mut response);
    // Proxies must pass each event on as it comes.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The action named in the URL, when the dashboard may act at all.
async fn action_target(
    dashboard: &Dashboard,
    names: (String, String, String, String, String),
) -> Result<(Target, Place, Action), DashboardError> {
    let (service, environment, cluster, rollout, action) = names;
    if !dashboard.actions_enabled() {
        return Err(DashboardError::ReadOnly);
    }
    let action = Action::from_name(&action).ok_or_else(|| {
        DashboardError::NotFound("no such action: the dashboard can promote, abort or retry".into())
    })?;
    let target = resolve::target(dashboard, &service, &environment, &cluster)?;
    let place = resolve::place(dashboard, &target, &rollout).await;
    Ok((target, place, action))
}

async fn confirm(
    State(dashboard): Shared,
    Path(names): Path<(String, String, String, String, String)>,
) -> Handled {
    let (_, place, action) = action_target(&dashboard, names).await?;
    Ok(html(StatusCode::OK, render_confirm(&place, action, None)))
}

#[derive(Deserialize)]
struct Confirmed {
    token: String,
}

async fn act(
    State(dashboard): Shared,
    Path(names): Path<(String, String, String, String, String)>,
    Form(form): Form<Confirmed>,
) -> Handled {
    let (target, place, action) = action_target(&dashboard, names).await?;
    let user = dashboard
        .tokens
        .as_ref()
        .and_then(|tokens| tokens.user_for(&form.token))
        .map(str::to_owned);
    let Some(user) = user else {
        let problem = DashboardError::WrongToken.to_string();
        return Ok(html(
            StatusCode::FORBIDDEN,
            render_confirm(&place, action, Some(&problem)),
        ));
    };
    let client = dashboard.clusters.client(&target.cluster).await?;
    let notice = perform(client, &place, action, &user).await?;
    let to = format!("{}?notice={}", place.href(), notice.code());
    let mut response = Redirect::to(&to).into_response();
    secure(&mut response);
    Ok(response)
}
