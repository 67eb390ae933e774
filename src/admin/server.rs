//! The admin server's connection loop.
//!
//! `axum::serve` sets no timer on hyper's HTTP/1 connections, so hyper's header read timeout
//! never applies there and a client that sends half a request line keeps its connection (and
//! its file descriptor) forever. This loop serves each connection with hyper's HTTP/1 builder,
//! a Tokio timer and a header read timeout, caps the number of open connections, and bounds
//! the graceful shutdown. Every connection runs in its own task, so one slow client never
//! delays another's `/livez`.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Limits of the admin server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request's head (request line and headers) must arrive within this; it also closes
    /// idle keep-alive connections after this long.
    pub header_read_timeout: Duration,
    /// A request must be answered within this (408 otherwise).
    pub request_timeout: Duration,
    /// Largest request body accepted (413 above it).
    pub body_limit: usize,
    /// Open connections at most; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// On stop, connections get this long to finish their answers before they are closed.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            body_limit: 4 * 1024,
            max_connections: 256,
            shutdown_timeout: Duration::from_secs(2),
        }
    }
}

/// hyper's minimum read buffer; request heads larger than this are refused (431).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Pause after an accept error (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts and serves connections until `stop` is cancelled.
pub(super) async fn run(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    stop: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connection tasks so the set does not grow.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
            () = stop.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "admin server: cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let stop = stop.clone();
        let header_read_timeout = limits.header_read_timeout;
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .max_buf_size(MAX_HEAD_BYTES);
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => log_connection_end(peer, result),
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    log_connection_end(peer, conn.await);
                }
            }
        });
    }
    drop(listener);
    // Answers in progress get a moment; connections that still hang on are closed.
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            open = connections.len(),
            "admin server: closing connections that did not finish in time"
        );
        connections.shutdown().await;
    }
}

fn log_connection_end(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Timeouts and malformed requests are the client's problem, not an operational event.
        tracing::debug!(%peer, error = %e, "admin connection ended with an error");
    }
}
