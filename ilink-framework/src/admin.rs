//! The admin endpoint: an HTTP listener for operators, off until an address
//! is given ([`BotBuilder::admin`](crate::BotBuilder::admin) or
//! `ILINK_ADMIN_ADDR`). It serves
//!
//! - `GET /metrics`: the metrics in the Prometheus text format;
//! - `GET /healthz`: `200 ok` while the process answers (liveness);
//! - `GET /readyz`: `200 ready` when every account polls, else `503` with
//!   one reason per line (readiness; see [`BotStatus`]);
//! - `GET /status`: [`BotStatus`] as JSON, what `ilink status` prints.
//!
//! It has no authentication: bind it to loopback or a private interface.
//!
//! `/metrics` renders the Prometheus recorder the endpoint installs as the
//! process's global `metrics` recorder when it first starts. If the
//! application installed another recorder first, the metrics go there and
//! `/metrics` answers `404` saying so.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::BotError;
use crate::status::BotStatus;

/// Histogram buckets of every `…_seconds` metric, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How often histograms are drained when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// How long stopping waits for requests in progress.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The Prometheus text format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The bot's status, or `None` once the bot is gone.
pub(crate) type StatusFn = Arc<dyn Fn() -> BoxFuture<'static, Option<BotStatus>> + Send + Sync>;

/// A running admin endpoint.
pub(crate) struct AdminServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct AdminState {
    status: StatusFn,
    prometheus: Option<PrometheusHandle>,
}

impl AdminServer {
    /// Installs the Prometheus recorder (once per process) and listens on `addr`.
    pub(crate) async fn start(addr: SocketAddr, status: StatusFn) -> Result<Self, BotError> {
        let prometheus = prometheus();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BotError::AdminBind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| BotError::AdminBind { addr, source })?;
        let state = AdminState { status, prometheus };
        let app = Router::new()
            .route("/metrics", get(metrics_text))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/status", get(status_json))
            .with_state(state.clone());
        let cancel = CancellationToken::new();
        let task = tokio::spawn({
            let cancel = cancel.clone();
            async move {
                let upkeep = tokio::spawn(upkeep(state.prometheus, cancel.clone()));
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(cancel.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the admin endpoint stopped");
                }
                upkeep.abort();
            }
        });
        tracing::info!(addr = %local, "admin endpoint listening (/metrics, /healthz, /readyz, /status)");
        Ok(Self {
            addr: local,
            cancel,
            task,
        })
    }

    /// The address it listens on (the port chosen when `:0` was given).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening, letting requests in progress finish for a while.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        let abort = self.task.abort_handle();
        if tokio::time::timeout(STOP_WAIT, self.task).await.is_err() {
            abort.abort();
        }
    }
}

/// The process's Prometheus recorder, installed on first use; `None` when
/// the application installed another recorder first.
fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed: the metrics go there and /metrics answers 404");
                    None
                }
            }
        })
        .clone()
}

/// Drains histogram samples now and then, so they do not pile up between scrapes.
async fn upkeep(prometheus: Option<PrometheusHandle>, cancel: CancellationToken) {
    let Some(handle) = prometheus else {
        return;
    };
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => handle.run_upkeep(),
            _ = cancel.cancelled() => return,
        }
    }
}

async fn metrics_text(State(state): State<AdminState>) -> Response {
    let Some(handle) = &state.prometheus else {
        return (
            StatusCode::NOT_FOUND,
            "another metrics recorder was installed before the admin endpoint: the metrics go there\n",
        )
            .into_response();
    };
    // Brings the per-account gauges up to date.
    let _ = (state.status)().await;
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], handle.render()).into_response()
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let Some(status) = (state.status)().await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready\nthe bot has stopped\n",
        )
            .into_response();
    };
    let (code, mut body) = if status.ready {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned())
    };
    for reason in status.not_ready_reasons() {
        body.push_str(&reason);
        body.push('\n');
    }
    (code, body).into_response()
}

async fn status_json(State(state): State<AdminState>) -> Response {
    match (state.status)().await {
        Some(status) => Json(status).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "the bot has stopped\n").into_response(),
    }
}
