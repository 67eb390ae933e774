//! State shared by every request: the organisation, issued keys, faults and counters.
//!
//! Locks are `std` locks held only for short, non-async sections (never across an `.await`);
//! counters are atomics, so requests never queue behind each other for bookkeeping.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use super::KeyRoutes;
use super::faults::Faults;
use super::model::OrganisationData;

/// Request counters, as answered by `GET /_sandbox/stats`. Control routes count in none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxStats {
    pub keys_issued: u64,
    /// Every request on API routes (management and resource, whatever the outcome).
    pub requests_total: u64,
    pub requests_rejected_expired_key: u64,
    pub requests_rejected_invalid_key: u64,
    pub requests_rate_limited: u64,
    /// Injected error answers (`error_rate`) and management-outage answers.
    pub requests_failed_injected: u64,
    pub management_requests: u64,
    pub in_flight: u64,
    /// Peak of `in_flight` since start.
    pub max_in_flight: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub keys_issued: AtomicU64,
    pub requests_total: AtomicU64,
    pub rejected_expired: AtomicU64,
    pub rejected_invalid: AtomicU64,
    pub rate_limited: AtomicU64,
    pub failed_injected: AtomicU64,
    pub management_requests: AtomicU64,
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> SandboxStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SandboxStats {
            keys_issued: get(&self.keys_issued),
            requests_total: get(&self.requests_total),
            requests_rejected_expired_key: get(&self.rejected_expired),
            requests_rejected_invalid_key: get(&self.rejected_invalid),
            requests_rate_limited: get(&self.rate_limited),
            requests_failed_injected: get(&self.failed_injected),
            management_requests: get(&self.management_requests),
            in_flight: get(&self.in_flight),
            max_in_flight: get(&self.max_in_flight),
        }
    }
}

/// Counts one request in flight until dropped (also when the client goes away mid-request).
pub(crate) struct InFlight<'a>(&'a Stats);

impl<'a> InFlight<'a> {
    pub fn enter(stats: &'a Stats) -> Self {
        let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The verdict on an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    Valid,
    Expired,
    /// Never issued, revoked, or forgotten long after expiry.
    Unknown,
}

/// A freshly issued key, as the creation route answers it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssuedKey {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: &'static str,
    pub created_at: i64,
    pub api_key: String,
}

pub(crate) struct Shared {
    pub username: String,
    pub password: SecretString,
    pub ttl: Duration,
    pub latency: Duration,
    pub key_routes: KeyRoutes,
    pub disabled_routes: BTreeSet<String>,
    pub organisation_id: String,
    pub data: RwLock<OrganisationData>,
    /// Issued keys and when each expires (monotonic clock).
    keys: RwLock<HashMap<String, Instant>>,
    pub faults: RwLock<Faults>,
    pub stats: Stats,
    started: Instant,
    /// The Unix second `started` corresponds to on the sandbox clock.
    now_at_start: i64,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        username: String,
        password: SecretString,
        ttl: Duration,
        latency: Duration,
        key_routes: KeyRoutes,
        disabled_routes: BTreeSet<String>,
        data: OrganisationData,
    ) -> Self {
        Self {
            username,
            password,
            ttl,
            latency,
            key_routes,
            disabled_routes,
            organisation_id: data.organisation.id.clone(),
            now_at_start: data.now,
            data: RwLock::new(data),
            keys: RwLock::new(HashMap::new()),
            faults: RwLock::new(Faults::default()),
            stats: Stats::default(),
            started: Instant::now(),
        }
    }

    // A panic while a lock is held cannot leave the data half-written in a way that matters
    // to a test server, so poisoned locks are used as they are.
    pub fn data(&self) -> RwLockReadGuard<'_, OrganisationData> {
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn data_mut(&self) -> RwLockWriteGuard<'_, OrganisationData> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn faults_mut(&self) -> RwLockWriteGuard<'_, Faults> {
        self.faults.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sandbox clock in Unix seconds: `now` at start plus the (monotonic) time since.
    pub fn clock_now(&self) -> i64 {
        let elapsed = i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX);
        self.now_at_start.saturating_add(elapsed)
    }

    /// Compares both credentials in constant time.
    pub fn credentials_match(&self, username: &str, password: &str) -> bool {
        let user_ok = username.as_bytes().ct_eq(self.username.as_bytes());
        let pass_ok = password
            .as_bytes()
            .ct_eq(self.password.expose_secret().as_bytes());
        bool::from(user_ok & pass_ok)
    }

    pub fn issue_key(&self) -> IssuedKey {
        let mut rng = rand::thread_rng();
        let secret: [u8; 20] = rng.r#gen();
        let id: [u8; 12] = rng.r#gen();
        let api_key = format!("sbx_{}", hex(&secret));
        let now = Instant::now();
        {
            let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
            // Forget keys long expired so the map stays small; until then they answer "expired".
            let keep_for = self.ttl.max(Duration::from_secs(3600));
            keys.retain(|_, expires| now.saturating_duration_since(*expires) < keep_for);
            keys.insert(api_key.clone(), now + self.ttl);
        }
        Stats::bump(&self.stats.keys_issued);
        IssuedKey {
            id: hex(&id),
            name: "super-api-key",
            created_at: unix_now(),
            api_key,
        }
    }

    pub fn check_key(&self, key: &str) -> KeyCheck {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        match keys.get(key) {
            None => KeyCheck::Unknown,
            Some(expires) if Instant::now() >= *expires => KeyCheck::Expired,
            Some(_) => KeyCheck::Valid,
        }
    }

    /// Makes every issued key invalid at once; returns how many there were.
    pub fn revoke_keys(&self) -> usize {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let n = keys.len();
        keys.clear();
        n
    }

    /// Decides whether this resource request gets an injected fault.
    pub fn roll_fault(&self) -> Option<InjectedFault> {
        let f = self.faults();
        if f.rate_limited_rate <= 0.0 && f.error_rate <= 0.0 {
            return None;
        }
        let mut rng = rand::thread_rng();
        if f.rate_limited_rate > 0.0 && rng.r#gen::<f64>() < f.rate_limited_rate {
            return Some(InjectedFault::RateLimited {
                retry_after_s: f.retry_after_s,
            });
        }
        if f.error_rate > 0.0 && rng.r#gen::<f64>() < f.error_rate {
            return Some(InjectedFault::Error {
                status: f.error_status,
            });
        }
        None
    }
}

pub(crate) enum InjectedFault {
    RateLimited { retry_after_s: u64 },
    Error { status: u16 },
}

/// Wall-clock Unix seconds (what a real install puts in a key's `createdAt`).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(ttl: Duration) -> Shared {
        Shared::new(
            "warden".into(),
            SecretString::from("pw".to_string()),
            ttl,
            Duration::ZERO,
            KeyRoutes::Both,
            BTreeSet::new(),
            OrganisationData::generate(1, 3, 2, 1_700_000_000),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn keys_expire_after_the_ttl_on_the_monotonic_clock() {
        let s = shared(Duration::from_secs(900));
        let key = s.issue_key();
        assert!(key.api_key.starts_with("sbx_") && key.api_key.len() == 44);
        assert_eq!(s.check_key(&key.api_key), KeyCheck::Valid);
        tokio::time::advance(Duration::from_secs(899)).await;
        assert_eq!(s.check_key(&key.api_key), KeyCheck::Valid);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(s.check_key(&key.api_key), KeyCheck::Expired);
        assert_eq!(s.check_key("sbx_nope"), KeyCheck::Unknown);
        assert_eq!(s.stats.snapshot().keys_issued, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn revoked_keys_are_unknown_and_old_keys_are_forgotten() {
        let s = shared(Duration::from_secs(60));
        let a = s.issue_key();
        assert_eq!(s.revoke_keys(), 1);
        assert_eq!(s.check_key(&a.api_key), KeyCheck::Unknown);
        let b = s.issue_key();
        tokio::time::advance(Duration::from_secs(60 + 3600)).await;
        let _c = s.issue_key();
        assert_eq!(s.check_key(&b.api_key), KeyCheck::Unknown);
    }

    #[test]
    fn credentials_must_both_match() {
        let s = shared(Duration::from_secs(1));
        assert!(s.credentials_match("warden", "pw"));
        assert!(!s.credentials_match("warden", "pw2"));
        assert!(!s.credentials_match("other", "pw"));
        assert!(!s.credentials_match("", ""));
    }

    #[test]
    fn in_flight_guard_tracks_the_peak() {
        let stats = Stats::default();
        {
            let _a = InFlight::enter(&stats);
            let _b = InFlight::enter(&stats);
            assert_eq!(stats.snapshot().in_flight, 2);
        }
        let snap = stats.snapshot();
        assert_eq!((snap.in_flight, snap.max_in_flight), (0, 2));
    }
}
