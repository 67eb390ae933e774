//! Shared helpers of the integration tests: a sandbox, a keeper and a client wired together
//! over real HTTP on 127.0.0.1, and a log capture.
#![allow(dead_code)]

use cognigy_warden::cognigy::{Api, ClientSettings, Http, Management, ManagementKeySource};
use cognigy_warden::metrics::Metrics;
use cognigy_warden::sandbox::{Sandbox, SandboxOptions};
use cognigy_warden::superkey::{self, KeeperSettings, KeyHandle};
use secrecy::SecretString;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const USER: &str = "warden";
pub const PASSWORD: &str = "test-password-3f9a1c";

pub fn sandbox_options(ttl: Duration) -> SandboxOptions {
    SandboxOptions {
        ttl,
        username: USER.to_string(),
        password: PASSWORD.to_string(),
        ..SandboxOptions::default()
    }
}

/// Lifecycle numbers for a short key life (the margin scaled down with the TTL).
pub fn short_settings(ttl: Duration) -> KeeperSettings {
    KeeperSettings {
        ttl,
        renew_at: 0.667,
        jitter: 0.05,
        margin: ttl / 6,
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
    }
}

pub struct Stack {
    pub keys: KeyHandle,
    pub api: Api,
    pub management: Arc<Management>,
    pub metrics: Arc<Metrics>,
    pub stop: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn http(sandbox: &Sandbox, max_in_flight: usize, metrics: Arc<Metrics>) -> Http {
    let mut s = ClientSettings::new(sandbox.base_url().parse().unwrap());
    s.max_in_flight = max_in_flight;
    s.request_timeout = Duration::from_secs(10);
    s.retry_base = Duration::from_millis(100);
    s.retry_max = Duration::from_secs(1);
    // Tests inject up to 20 % failures: 8 attempts make an exhausted request (0.2^8 per request)
    // practically impossible, so the tests do not flake.
    s.max_attempts = 8;
    Http::new(s, metrics).unwrap()
}

/// Keeper + client against `sandbox`, with the given password.
pub fn stack_with(sandbox: &Sandbox, settings: KeeperSettings, password: &str) -> Stack {
    let metrics = Arc::new(Metrics::new());
    let http = http(sandbox, 32, metrics.clone());
    let management = Arc::new(Management::new(
        http.clone(),
        USER.to_string(),
        SecretString::from(password.to_string()),
    ));
    let source = ManagementKeySource::new(management.clone(), None);
    let stop = CancellationToken::new();
    let (keys, _task) = superkey::spawn(Arc::new(source), settings, metrics.clone(), stop.clone());
    let api = Api::new(http, keys.clone());
    Stack {
        keys,
        api,
        management,
        metrics,
        stop,
    }
}

pub fn stack(sandbox: &Sandbox, settings: KeeperSettings) -> Stack {
    stack_with(sandbox, settings, PASSWORD)
}

/// Everything logged through `tracing` while the guard lives (current-thread runtimes only:
/// the subscriber is the thread's default).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let capture = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || capture.clone())
            .json()
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fails if `text` holds a sandbox key or the test password.
pub fn assert_no_secrets(what: &str, text: &str) {
    assert!(
        !text.contains("sbx_"),
        "{what} contains a Super API-Key:\n{text}"
    );
    assert!(
        !text.contains(PASSWORD),
        "{what} contains the password:\n{text}"
    );
}

/// Sorted entry names of `dir` (to check that a failed run left nothing behind).
pub fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
