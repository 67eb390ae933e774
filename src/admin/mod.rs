//! The admin HTTP surface (axum): `/livez`, `/readyz`, `/metrics`, `/status` and, when a
//! trigger token is configured, `POST /jobs/{name}/run`.
//!
//! - [`probes`]: liveness (are the keeper and the cron timer alive?) and readiness (is a usable
//!   Super API-Key held, and are we not draining?).
//! - [`status`]: the `/status` JSON and the OpenMetrics exposition.
//! - [`trigger`]: the manual job trigger behind a bearer token.
//! - [`server`]: the connection loop with its limits (header read timeout, request timeout,
//!   body size, connection count), so that a slow or malformed client cannot stall the probes.
//!
//! Nothing here ever holds the key or the password: the handlers read [`KeyHandle::state`],
//! which is secret-free, and the trigger token is compared, never echoed.

pub mod probes;
pub mod server;
pub mod status;
pub mod trigger;

pub use probes::{Liveness, readiness};
pub use server::ServerLimits;

use crate::config::AdminConfig;
use crate::jobs::Scheduler;
use crate::metrics::Metrics;
use crate::superkey::KeyHandle;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the admin server could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "cannot listen on admin.listen {addr}: {source}. Pick a free port or address (admin.listen, WARDEN_ADMIN__LISTEN)"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the address the admin server listens on: {0}")]
    LocalAddr(#[source] std::io::Error),
}

/// What the handlers read.
#[derive(Clone)]
pub struct AdminState {
    keys: KeyHandle,
    scheduler: Scheduler,
    metrics: Arc<Metrics>,
    draining: CancellationToken,
    liveness: Liveness,
    started_at: DateTime<Utc>,
    /// Set by [`serve`] from the configuration; `None` means the trigger route does not exist.
    trigger_token: Option<Arc<SecretString>>,
}

impl AdminState {
    /// `draining` is cancelled when the daemon starts shutting down (readiness goes 503).
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
            liveness: Liveness::new(),
            started_at: Utc::now(),
            trigger_token: None,
        }
    }

    /// The task registry `/livez` consults (the daemon registers its keeper there).
    pub fn with_liveness(mut self, liveness: Liveness) -> Self {
        self.liveness = liveness;
        self
    }

    fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
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

    /// Stops accepting, lets answers in progress finish (bounded by
    /// [`ServerLimits::shutdown_timeout`]) and closes every connection.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Binds `config.listen` and serves with the default [`ServerLimits`].
pub async fn serve(config: &AdminConfig, state: AdminState) -> Result<AdminServer, AdminError> {
    serve_with(config, state, ServerLimits::default()).await
}

/// Binds `config.listen` and serves with the given limits.
pub async fn serve_with(
    config: &AdminConfig,
    mut state: AdminState,
    limits: ServerLimits,
) -> Result<AdminServer, AdminError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| AdminError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(AdminError::LocalAddr)?;
    state.trigger_token = config.trigger_token.clone().map(Arc::new);
    let app = router(state, &limits);
    let stop = CancellationToken::new();
    let task = tokio::spawn(server::run(listener, app, limits, stop.clone()));
    Ok(AdminServer { addr, stop, task })
}

/// The routes with their limits. The trigger route exists only with a token.
fn router(state: AdminState, limits: &ServerLimits) -> Router {
    let mut app = Router::new()
        .route("/livez", get(probes::livez))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(status::metrics))
        .route("/status", get(status::status));
    if state.trigger_token.is_some() {
        app = app.route("/jobs/{name}/run", post(trigger::trigger));
    }
    app.fallback(not_found)
        .with_state(state)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            limits.body_limit,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found; endpoints: GET /livez, /readyz, /metrics, /status (and POST /jobs/{name}/run when a trigger token is configured)\n",
    )
}
