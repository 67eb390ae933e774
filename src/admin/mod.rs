//! The admin HTTP surface (axum): `/livez`, `/readyz`, `/metrics`, `/status` and the manual
//! job trigger.

use crate::config::AdminConfig;
use crate::jobs::Scheduler;
use crate::metrics::Metrics;
use crate::superkey::KeyHandle;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the handlers read.
#[derive(Clone)]
pub struct AdminState {
    keys: KeyHandle,
    scheduler: Scheduler,
    metrics: Arc<Metrics>,
    draining: CancellationToken,
}

impl AdminState {
    pub fn new(
        keys: KeyHandle,
        scheduler: Scheduler,
        metrics: Arc<Metrics>,
        draining: CancellationToken,
    ) -> Self {
        AdminState {
            keys,
            scheduler,
            metrics,
            draining,
        }
    }
}

/// A running admin server.
pub struct AdminServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl AdminServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

pub async fn serve(config: &AdminConfig, state: AdminState) -> anyhow::Result<AdminServer> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on admin.listen {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    let stop = CancellationToken::new();
    let until = stop.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { until.cancelled().await })
            .await;
    });
    Ok(AdminServer { addr, stop, task })
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    if s.draining.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if s.keys.is_usable() {
        let _ = &s.scheduler;
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "no usable Super API-Key")
    }
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}
