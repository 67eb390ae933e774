//! The keeper: holds a usable organisation-wide Super API-Key at every moment.
//!
//! One task ([`keeper`]) creates keys; everything else holds a cheap [`KeyHandle`]. The rules
//! (see `docs/architecture.md`): a key's life counts from the moment its creation request was
//! sent, on the monotonic clock; it is replaced at `renew_at` of its TTL (jittered); it is never
//! handed out after `expiry - margin`; at most one creation is in flight; failures back off with
//! jitter and never give up; the key lives only in memory as a [`SecretString`].

mod keeper;
mod lifecycle;

pub use keeper::spawn;
pub use lifecycle::KeeperSettings;

use crate::cognigy::ApiError;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// Where keys come from: the management API in production, a scripted source in the
/// simulated-time tests.
pub trait KeySource: Send + Sync + 'static {
    fn create(&self) -> BoxFuture<'_, Result<IssuedKey, ApiError>>;
}

/// A freshly created key as the source returns it.
pub struct IssuedKey {
    pub key: SecretString,
    /// The server's `createdAt` (Unix seconds), used only for the clock-skew warning.
    pub server_created_at: Option<i64>,
}

/// A key that may be sent right now, with the generation it belongs to.
#[derive(Clone)]
pub struct Lease {
    pub generation: u64,
    key: SecretString,
}

impl Lease {
    /// The key value, for the `X-API-Key` header and nothing else.
    pub fn expose(&self) -> &str {
        self.key.expose_secret()
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Lease {{ generation: {}, key: [redacted] }}",
            self.generation
        )
    }
}

/// The key currently held.
pub(crate) struct ActiveKey {
    pub generation: u64,
    pub key: SecretString,
    /// After this instant the key is never handed out.
    pub usable_until: Instant,
    pub created_wall: SystemTime,
    pub usable_until_wall: SystemTime,
    pub expires_wall: SystemTime,
}

/// A secret-free snapshot of the keeper, for logs, `/status` and metrics.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeyState {
    /// 0 before the first key.
    pub generation: u64,
    pub usable: bool,
    /// RFC 3339 times (wall clock) of the current key.
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    pub usable_until: Option<String>,
    pub next_rotation: Option<String>,
    pub consecutive_failures: u32,
    pub rotations_succeeded: u64,
    pub rotations_failed: u64,
    pub last_error: Option<KeyError>,
    /// Unix seconds, for metrics.
    #[serde(skip)]
    pub created_unix: f64,
    #[serde(skip)]
    pub expires_unix: f64,
    #[serde(skip)]
    pub next_rotation_unix: f64,
}

/// The last creation failure, secret-free.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeyError {
    pub message: String,
    pub status: Option<u16>,
    pub trace_id: Option<String>,
    pub at: String,
}

#[derive(Default)]
pub(crate) struct Progress {
    pub next_rotation: Option<SystemTime>,
    pub consecutive_failures: u32,
    pub rotations_succeeded: u64,
    pub rotations_failed: u64,
    pub last_error: Option<KeyError>,
}

pub(crate) struct Shared {
    pub current: watch::Sender<Option<Arc<ActiveKey>>>,
    pub progress: Mutex<Progress>,
    /// Highest generation a caller reported as rejected (401/403).
    pub rejected: AtomicU64,
    pub rejection: Notify,
}

/// A cheap, cloneable handle on the keeper.
#[derive(Clone)]
pub struct KeyHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for KeyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyHandle")
            .field("state", &self.state())
            .finish()
    }
}

impl KeyHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        KeyHandle { shared }
    }

    /// The current key if it may be sent now.
    pub fn try_lease(&self) -> Option<Lease> {
        let current = self.shared.current.borrow();
        let active = current.as_ref()?;
        let rejected = self.shared.rejected.load(Ordering::Acquire);
        (Instant::now() < active.usable_until && active.generation > rejected).then(|| Lease {
            generation: active.generation,
            key: active.key.clone(),
        })
    }

    /// Waits until a usable key is held and returns it. Callers bound the wait with their
    /// own timeout; a stale key is never returned.
    pub async fn lease(&self) -> Lease {
        let mut rx = self.shared.current.subscribe();
        loop {
            rx.borrow_and_update();
            if let Some(lease) = self.try_lease() {
                return lease;
            }
            // A new generation is published by the keeper; nothing else makes a key usable.
            if rx.changed().await.is_err() {
                // The keeper is gone (shutdown): no key will come.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Reports that the API refused the key of `generation` (401/403). Only a report about the
    /// current generation triggers a new key; every caller then waits for it.
    pub fn reject(&self, generation: u64) {
        let current = self.shared.current.borrow().as_ref().map(|k| k.generation);
        if current == Some(generation)
            && self.shared.rejected.fetch_max(generation, Ordering::AcqRel) < generation
        {
            self.shared.rejection.notify_one();
        }
    }

    pub fn is_usable(&self) -> bool {
        self.try_lease().is_some()
    }

    /// Generation of the key currently held (0 before the first).
    pub fn generation(&self) -> u64 {
        self.shared
            .current
            .borrow()
            .as_ref()
            .map_or(0, |k| k.generation)
    }

    /// A secret-free snapshot.
    pub fn state(&self) -> KeyState {
        let usable = self.is_usable();
        let current = self.shared.current.borrow().clone();
        let p = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let usable_wall = current.as_ref().map(|k| k.usable_until_wall);
        KeyState {
            generation: current.as_ref().map_or(0, |k| k.generation),
            usable,
            created_at: current.as_ref().map(|k| rfc3339(k.created_wall)),
            expires_at: current.as_ref().map(|k| rfc3339(k.expires_wall)),
            usable_until: usable_wall.map(rfc3339),
            next_rotation: p.next_rotation.map(rfc3339),
            consecutive_failures: p.consecutive_failures,
            rotations_succeeded: p.rotations_succeeded,
            rotations_failed: p.rotations_failed,
            last_error: p.last_error.clone(),
            created_unix: current.as_ref().map_or(0.0, |k| unix(k.created_wall)),
            expires_unix: current.as_ref().map_or(0.0, |k| unix(k.expires_wall)),
            next_rotation_unix: p.next_rotation.map_or(0.0, unix),
        }
    }

    /// A receiver that wakes whenever a new key generation is published.
    pub fn watch(&self) -> KeyWatch {
        KeyWatch(self.shared.current.subscribe())
    }
}

/// Wakes on every new key generation (see [`KeyHandle::watch`]).
pub struct KeyWatch(watch::Receiver<Option<Arc<ActiveKey>>>);

impl KeyWatch {
    /// Waits for the next generation; `false` once the keeper has stopped.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Unix seconds of a wall-clock time.
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
