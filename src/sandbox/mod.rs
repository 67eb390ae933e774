//! The built-in sandbox: a stand-in Cognigy.AI API on real HTTP, faithful to the contract in
//! `cognigy-api.md` (routes under `/new`, HTTP Basic management routes, Super API-Keys that
//! expire `ttl` after issue, paging envelopes, RFC 7807 problems), serving a deterministic
//! generated organisation (see [`data`](self::data) for what is seeded) with fault injection
//! and control routes under `/_sandbox/`.
//!
//! Used by `cognigy-warden demo`, the tests and the benchmarks; also runs as its own process
//! (`cognigy-warden sandbox ...`, see [`run_foreground`]).

mod control;
pub mod data;
mod faults;
mod lists;
pub mod model;
mod mutate;
mod paging;
mod problem;
mod routes;
mod state;

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::serve::ListenerExt;
use secrecy::SecretString;
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Faults, FaultsError, FaultsPatch};
pub use model::{
    AiAgent, AssetKind, AuditEvent, Collection, Endpoint, Extension, Flow, Item, KnowledgeStore,
    Lexicon, Locale, Member, Organisation, OrganisationData, Playbook, Project, ProjectAssets,
    Snapshot, User,
};
pub use mutate::{MutationError, MutationTarget};
pub use state::SandboxStats;

/// Which Super API-Key creation route forms exist (the other answers 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRoutes {
    /// `POST .../organisations/{organisationId}/apikeys` and `POST .../organisations/apikeys`.
    Both,
    /// Only the documented path form.
    Path,
    /// Only the body form of the npm client.
    Body,
}

/// Options of the sandbox (also the `cognigy-warden sandbox` command line).
#[derive(Clone, clap::Args)]
pub struct SandboxOptions {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Lifetime of an issued Super API-Key.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    /// Management (HTTP Basic) username.
    #[arg(long, default_value = "warden")]
    pub username: String,
    /// Management (HTTP Basic) password. Never printed or logged.
    #[arg(long, default_value = "sandbox-password")]
    pub password: String,
    /// Delay added to every API answer.
    #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
    pub latency: Duration,
    /// Which key-creation route forms exist.
    #[arg(long, value_enum, default_value = "both")]
    pub key_routes: KeyRoutes,
    /// Seed of the generated organisation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of generated projects.
    #[arg(long, default_value_t = 12)]
    pub projects: usize,
    /// Number of flows per generated project.
    #[arg(long, default_value_t = 8)]
    pub flows_per_project: usize,
    /// A list route that answers 404 (e.g. `aiagents`); repeatable.
    #[arg(long = "disable-route")]
    pub disabled_routes: Vec<String>,
    /// Unix seconds used as "now" for generated timestamps (default: the wall clock at start,
    /// truncated to the hour, so sandboxes started within the same hour hold identical data).
    #[arg(long)]
    pub now: Option<i64>,
}

impl Default for SandboxOptions {
    /// The command-line defaults, except `listen` on a free port of 127.0.0.1.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ttl: Duration::from_secs(15 * 60),
            username: "warden".into(),
            password: "sandbox-password".into(),
            latency: Duration::ZERO,
            key_routes: KeyRoutes::Both,
            seed: 1,
            projects: 12,
            flows_per_project: 8,
            disabled_routes: Vec::new(),
            now: None,
        }
    }
}

// Written by hand so the password never shows.
impl std::fmt::Debug for SandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxOptions")
            .field("listen", &self.listen)
            .field("ttl", &self.ttl)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("latency", &self.latency)
            .field("key_routes", &self.key_routes)
            .field("seed", &self.seed)
            .field("projects", &self.projects)
            .field("flows_per_project", &self.flows_per_project)
            .field("disabled_routes", &self.disabled_routes)
            .field("now", &self.now)
            .finish()
    }
}

impl SandboxOptions {
    /// Checks the options; the error names the option and what to do.
    fn validate(&self) -> Result<BTreeSet<String>, String> {
        if self.username.is_empty() || self.username.contains(':') {
            return Err(
                "--username must be non-empty and must not contain ':' (HTTP Basic cannot carry it)"
                    .into(),
            );
        }
        let mut disabled = BTreeSet::new();
        for route in &self.disabled_routes {
            let route = route.trim();
            if !model::ROUTE_NAMES.contains(&route) {
                return Err(format!(
                    "--disable-route '{route}' is not a list route; use one of: {}",
                    model::ROUTE_NAMES.join(", ")
                ));
            }
            disabled.insert(route.to_string());
        }
        Ok(disabled)
    }
}

/// A running sandbox server. Dropping it stops the server; [`Sandbox::shutdown`] also waits.
pub struct Sandbox {
    shared: Arc<state::Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .field("organisation_id", &self.shared.organisation_id)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Generates the organisation, binds `opts.listen` and serves in a spawned task.
    pub async fn start(opts: SandboxOptions) -> io::Result<Sandbox> {
        let disabled = opts
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let now = opts.now.unwrap_or_else(|| unix_now() / 3600 * 3600);
        let (seed, projects, flows) = (opts.seed, opts.projects, opts.flows_per_project);
        // Large organisations take a moment to build: keep that off the async workers.
        let data = tokio::task::spawn_blocking(move || {
            model::OrganisationData::generate(seed, projects, flows, now)
        })
        .await
        .map_err(io::Error::other)?;
        let shared = Arc::new(state::Shared::new(
            opts.username,
            SecretString::from(opts.password),
            opts.ttl,
            opts.latency,
            opts.key_routes,
            disabled,
            data,
        ));
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot listen on {}: {e}", opts.listen))
            })?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            // Small answers on keep-alive connections must not wait for Nagle.
            let _ = tcp.set_nodelay(true);
        });
        let app = routes::api_router(shared.clone()).merge(control::control_router(shared.clone()));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "sandbox server stopped with an error");
            }
        });
        Ok(Sandbox {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL clients use (routes start with `/new`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn organisation_id(&self) -> String {
        self.shared.organisation_id.clone()
    }

    /// The same numbers as `GET /_sandbox/stats`.
    pub fn stats(&self) -> SandboxStats {
        self.shared.stats.snapshot()
    }

    /// A copy of the current organisation (for tests to compute expectations).
    pub fn organisation(&self) -> OrganisationData {
        self.shared.data().clone()
    }

    /// Changes the injected faults; absent fields keep their value. Out-of-range values are
    /// clamped (rates into 0..=1, `error_status` into 400..=599).
    pub fn set_faults(&self, f: FaultsPatch) {
        self.shared.faults_mut().apply(&f);
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Makes every issued key invalid at once.
    pub fn revoke_keys(&self) {
        self.shared.revoke_keys();
    }

    /// The line [`run_foreground`] prints first:
    /// `sandbox listening on http://ADDR organisation ORGID user USERNAME` (never the password).
    pub fn listening_line(&self) -> String {
        format!(
            "sandbox listening on {} organisation {} user {}",
            self.base_url(),
            self.shared.organisation_id,
            self.shared.username
        )
    }

    /// Stops accepting, lets requests in progress finish (at most 5 s), then returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Runs the sandbox in the foreground until Ctrl-C or SIGTERM. Prints exactly one first line to
/// stdout, `sandbox listening on http://ADDR organisation ORGID user USERNAME` (flushed, so a
/// benchmark can parse it), and never the password.
pub async fn run_foreground(opts: SandboxOptions) -> anyhow::Result<()> {
    // Installed before the server answers, so a signal sent once it is reachable is never lost.
    let stop = StopSignal::install().context("installing the Ctrl-C/SIGTERM handlers")?;
    let listen = opts.listen;
    let sandbox = Sandbox::start(opts)
        .await
        .with_context(|| format!("starting the sandbox on {listen}"))?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "{}", sandbox.listening_line())?;
        out.flush()?;
    }
    // Logged only after the first stdout line, which benchmarks parse.
    tracing::info!(
        addr = %sandbox.addr(),
        organisation = %sandbox.organisation_id(),
        "sandbox listening"
    );
    stop.wait().await;
    tracing::info!("sandbox stopping");
    sandbox.shutdown().await;
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM.
struct StopSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A JSON answer from already serialised bytes.
pub(crate) fn json_bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    json_bytes_response(status, lists::to_json(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: SandboxOptions,
    }

    #[test]
    fn command_line_defaults_and_flags() {
        let cli = Cli::parse_from(["x"]);
        assert_eq!(cli.opts.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(cli.opts.ttl, Duration::from_secs(900));
        assert_eq!(cli.opts.key_routes, KeyRoutes::Both);
        assert_eq!((cli.opts.projects, cli.opts.flows_per_project), (12, 8));
        let cli = Cli::parse_from([
            "x",
            "--ttl",
            "2s",
            "--key-routes",
            "body",
            "--disable-route",
            "aiagents",
            "--disable-route",
            "users",
            "--latency",
            "5ms",
            "--now",
            "1700000000",
        ]);
        assert_eq!(cli.opts.ttl, Duration::from_secs(2));
        assert_eq!(cli.opts.key_routes, KeyRoutes::Body);
        assert_eq!(cli.opts.disabled_routes, ["aiagents", "users"]);
        assert_eq!(cli.opts.latency, Duration::from_millis(5));
        assert_eq!(cli.opts.now, Some(1_700_000_000));
    }

    #[test]
    fn debug_hides_the_password_and_bad_options_are_named() {
        let opts = SandboxOptions {
            password: "hunter2-secret".into(),
            ..Default::default()
        };
        assert!(!format!("{opts:?}").contains("hunter2-secret"));
        let bad = SandboxOptions {
            disabled_routes: vec!["widgets".into()],
            ..Default::default()
        };
        let e = bad.validate().unwrap_err();
        assert!(
            e.contains("--disable-route 'widgets'") && e.contains("aiagents"),
            "{e}"
        );
        let bad = SandboxOptions {
            username: "a:b".into(),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("--username"));
    }
}
