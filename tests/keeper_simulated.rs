//! The keeper under simulated time (`tokio::time::pause`): a day of rotations, outages and
//! rejections, with a scripted key source that records when each key was requested.

use cognigy_warden::cognigy::ApiError;
use cognigy_warden::metrics::Metrics;
use cognigy_warden::superkey::{self, IssuedKey, KeeperSettings, KeySource};
use futures::future::BoxFuture;
use secrecy::SecretString;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Issues `key-<n>` after a simulated round trip; fails while `down` is set.
#[derive(Default)]
struct ScriptedSource {
    down: AtomicBool,
    attempts: AtomicU32,
    /// Send instant of every successful creation, in order.
    issued: Mutex<Vec<Instant>>,
    in_flight: AtomicU32,
    max_in_flight: AtomicU32,
}

impl KeySource for ScriptedSource {
    fn create(&self) -> BoxFuture<'_, Result<IssuedKey, ApiError>> {
        Box::pin(async move {
            let sent = Instant::now();
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let now_in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight
                .fetch_max(now_in_flight, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(150)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(ApiError::Status {
                    method: "POST",
                    path: "/new/management/v2.0/organisations/x/apikeys".into(),
                    status: 503,
                    problem: Box::default(),
                });
            }
            let mut issued = self.issued.lock().unwrap();
            issued.push(sent);
            Ok(IssuedKey {
                key: SecretString::from(format!("key-{}", issued.len())),
                server_created_at: None,
            })
        })
    }
}

fn start(
    settings: KeeperSettings,
) -> (Arc<ScriptedSource>, superkey::KeyHandle, CancellationToken) {
    let source = Arc::new(ScriptedSource::default());
    let shutdown = CancellationToken::new();
    let (handle, _task) = superkey::spawn(
        source.clone(),
        settings,
        Arc::new(Metrics::new()),
        shutdown.clone(),
    );
    (source, handle, shutdown)
}

/// Key number `n` (1-based) was requested at `issued[n-1]`; it may be sent until then + ttl - margin.
fn assert_fresh(lease_key: &str, issued: &[Instant], settings: &KeeperSettings, now: Instant) {
    let n: usize = lease_key.trim_start_matches("key-").parse().unwrap();
    let sent = issued[n - 1];
    assert!(
        now < sent + settings.ttl - settings.margin,
        "key {n} handed out {:?} after creation",
        now - sent
    );
}

#[tokio::test(start_paused = true)]
async fn a_simulated_day_has_about_144_rotations_and_never_a_stale_key() {
    let settings = KeeperSettings::default();
    let (source, keys, shutdown) = start(settings.clone());
    let start = Instant::now();
    let day = Duration::from_secs(24 * 3600);
    let mut leases = 0u64;
    // Steady traffic: one request every 7 simulated seconds for 24 h.
    while start.elapsed() < day {
        let lease = tokio::time::timeout(Duration::from_secs(5), keys.lease())
            .await
            .expect("a usable key at every moment");
        let issued = source.issued.lock().unwrap().clone();
        assert_fresh(lease.expose(), &issued, &settings, Instant::now());
        leases += 1;
        tokio::time::sleep(Duration::from_secs(7)).await;
    }
    shutdown.cancel();
    let issued = source.issued.lock().unwrap().clone();
    // Renewal every 10 min +- 45 s: 24 h / 10 min = 144 (+1 at start-up).
    assert!(
        (136..=154).contains(&issued.len()),
        "{} keys in a day",
        issued.len()
    );
    for pair in issued.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_secs(554) && gap <= Duration::from_secs(646),
            "rotation gap {gap:?}"
        );
    }
    assert_eq!(
        source.max_in_flight.load(Ordering::SeqCst),
        1,
        "single flight"
    );
    assert!(leases > 12_000);
}

#[tokio::test(start_paused = true)]
async fn an_outage_shorter_than_the_remaining_life_causes_no_lapse() {
    let settings = KeeperSettings::default();
    let (source, keys, _shutdown) = start(settings.clone());
    keys.lease().await;
    // Just before the first renewal (>= 555 s), the management API goes down for 3 minutes.
    tokio::time::sleep(Duration::from_secs(540)).await;
    source.down.store(true, Ordering::SeqCst);
    let outage_end = Instant::now() + Duration::from_secs(180);
    while Instant::now() < outage_end {
        assert!(keys.is_usable(), "key lapsed during a short outage");
        let issued = source.issued.lock().unwrap().clone();
        assert_fresh(
            keys.try_lease().unwrap().expose(),
            &issued,
            &settings,
            Instant::now(),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    source.down.store(false, Ordering::SeqCst);
    let failed_attempts = source.attempts.load(Ordering::SeqCst) - 1;
    assert!(
        failed_attempts >= 5,
        "retried during the outage: {failed_attempts}"
    );
    // Back to normal within backoff_max.
    tokio::time::sleep(settings.backoff_max + Duration::from_secs(1)).await;
    assert_eq!(source.issued.lock().unwrap().len(), 2);
    let state = keys.state();
    assert_eq!(state.generation, 2);
    assert_eq!(state.consecutive_failures, 0);
    assert!(state.rotations_failed >= 5);
}

#[tokio::test(start_paused = true)]
async fn a_long_outage_makes_callers_wait_and_a_key_returns_within_backoff_max() {
    let settings = KeeperSettings::default();
    let (source, keys, _shutdown) = start(settings.clone());
    keys.lease().await;
    let usable_until = keys.state().usable_until.expect("a key is held");
    source.down.store(true, Ordering::SeqCst);
    // Past the usable window (870 s) with the API still down.
    tokio::time::sleep(Duration::from_secs(900)).await;
    assert!(!keys.is_usable());
    assert!(keys.try_lease().is_none(), "a stale key was handed out");
    let state = keys.state();
    assert!(!state.usable);
    assert!(state.consecutive_failures >= 10);
    // The lapsed key's end of use is reported as it was, not as "now".
    assert_eq!(state.usable_until.as_deref(), Some(usable_until.as_str()));
    // Callers wait rather than get a stale key.
    assert!(
        tokio::time::timeout(Duration::from_secs(60), keys.lease())
            .await
            .is_err()
    );
    // The outage ends; waiting callers get a key within backoff_max (+ one round trip).
    source.down.store(false, Ordering::SeqCst);
    let ended = Instant::now();
    let lease = tokio::time::timeout(settings.backoff_max + Duration::from_secs(1), keys.lease())
        .await
        .expect("a key within backoff_max of the outage ending");
    assert!(Instant::now() - ended <= settings.backoff_max + Duration::from_millis(200));
    assert_eq!(lease.generation, 2);
    // Attempts were spaced by backoff: never more than one per half second, and the gaps grow.
    let attempts = source.attempts.load(Ordering::SeqCst);
    assert!(
        attempts < 900 / 15 + 10,
        "{attempts} attempts: backoff too short"
    );
}

#[tokio::test(start_paused = true)]
async fn rejection_of_the_current_generation_creates_exactly_one_new_key() {
    let (source, keys, _shutdown) = start(KeeperSettings::default());
    let first = keys.lease().await;
    // 20 callers see the same refusal at once.
    for _ in 0..20 {
        keys.reject(first.generation);
    }
    let mut waiters = Vec::new();
    for _ in 0..20 {
        let keys = keys.clone();
        waiters.push(tokio::spawn(async move { keys.lease().await.generation }));
    }
    for w in waiters {
        assert_eq!(w.await.unwrap(), 2);
    }
    assert_eq!(source.issued.lock().unwrap().len(), 2);
    // A late report about the old generation changes nothing.
    keys.reject(first.generation);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(source.issued.lock().unwrap().len(), 2);
    assert_eq!(keys.generation(), 2);
}

#[tokio::test(start_paused = true)]
async fn repeated_rejections_back_off_instead_of_looping() {
    let (source, keys, _shutdown) = start(KeeperSettings::default());
    keys.lease().await;
    // A misbehaving install refuses every key: each one is reported at once.
    let reporter = {
        let keys = keys.clone();
        tokio::spawn(async move {
            loop {
                let lease = keys.lease().await;
                keys.reject(lease.generation);
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(120)).await;
    reporter.abort();
    let keys_made = source.issued.lock().unwrap().len();
    // Without backoff this would be ~800 (one per 150 ms round trip).
    assert!(keys_made < 20, "{keys_made} keys in 2 minutes");
    assert!(keys_made >= 4, "{keys_made}");
}

#[test]
fn debug_output_of_a_lease_hides_the_key() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let (_source, keys, _shutdown) = start(KeeperSettings::default());
        let lease = keys.lease().await;
        let shown = format!("{lease:?} {keys:?} {:?}", keys.state());
        assert!(!shown.contains("key-1"), "{shown}");
        assert_eq!(lease.expose(), "key-1");
    });
}
