//! The HTTP layer shared by management and resource calls: one `reqwest::Client` (rustls,
//! connection pool), a concurrency limit, retries with jittered backoff, metrics per route
//! template. Keys are read at the moment each request is sent, never earlier.

use super::error::ApiError;
use super::model::Problem;
use crate::metrics::Metrics;
use bytes::Bytes;
use rand::Rng;
use reqwest::header::{ACCEPT, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

/// Longest `Retry-After` we honour; a larger value is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Base URL of the install's API host, e.g. `https://api.cognigy.example.com`.
    pub base_url: Url,
    pub request_timeout: Duration,
    /// Requests in flight at most, over all callers.
    pub max_in_flight: usize,
    /// Extra CA certificate (PEM) to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First retry delay ceiling; doubles per attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl ClientSettings {
    pub fn new(base_url: Url) -> Self {
        ClientSettings {
            base_url,
            request_timeout: Duration::from_secs(30),
            max_in_flight: 8,
            ca_file: None,
            max_attempts: 4,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// A route: its template (a metric label, never holding ids) and the concrete path.
#[derive(Debug, Clone)]
pub struct Route {
    pub template: &'static str,
    pub path: String,
}

impl Route {
    /// A route without path parameters.
    pub fn fixed(template: &'static str) -> Self {
        Route {
            template,
            path: template.to_string(),
        }
    }

    /// A route whose `{...}` parameters were filled in by the caller.
    pub fn with_path(template: &'static str, path: String) -> Self {
        Route { template, path }
    }
}

/// How a request authenticates.
pub(crate) enum Auth<'a> {
    Basic {
        username: &'a str,
        password: &'a secrecy::SecretString,
    },
    Key(&'a crate::superkey::KeyHandle),
}

/// Counters of one scope (a job run): what its summary reports.
#[derive(Debug, Default)]
pub struct RequestStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub key_refreshes: AtomicU64,
    pub first_generation: AtomicU64,
    pub last_generation: AtomicU64,
}

impl RequestStats {
    fn saw_generation(&self, generation: u64) {
        let _ = self.first_generation.compare_exchange(
            0,
            generation,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.last_generation.fetch_max(generation, Ordering::AcqRel);
    }

    /// Requests sent, retries, and the number of distinct key generations used.
    pub fn snapshot(&self) -> StatsSnapshot {
        let first = self.first_generation.load(Ordering::Acquire);
        let last = self.last_generation.load(Ordering::Acquire);
        StatsSnapshot {
            requests: self.requests.load(Ordering::Acquire),
            retries: self.retries.load(Ordering::Acquire),
            key_refreshes: self.key_refreshes.load(Ordering::Acquire),
            keys_used: if first == 0 { 0 } else { last - first + 1 },
        }
    }
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub retries: u64,
    pub key_refreshes: u64,
    pub keys_used: u64,
}

/// The shared HTTP core. Cheap to clone.
#[derive(Clone)]
pub struct Http {
    inner: Arc<HttpInner>,
}

struct HttpInner {
    client: reqwest::Client,
    settings: ClientSettings,
    limiter: Semaphore,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("base_url", &self.inner.settings.base_url.as_str())
            .finish()
    }
}

/// One logical request, as handed to [`Http::send`].
pub(crate) struct Call<'a> {
    pub method: Method,
    pub route: &'a Route,
    pub query: &'a [(&'a str, &'a str)],
    pub body: Option<&'a serde_json::Value>,
    pub auth: Auth<'a>,
    pub policy: RetryPolicy,
    pub stats: Option<&'a RequestStats>,
}

/// What one request should do on a retryable failure.
#[derive(Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
}

impl Http {
    pub fn new(settings: ClientSettings, metrics: Arc<Metrics>) -> Result<Http, ApiError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(settings.max_in_flight.max(1))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                ApiError::Setup(format!(
                    "cannot read cognigy.ca_file {}: {e}; mount the CA certificate (PEM) there or remove the setting",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ApiError::Setup(format!(
                    "cognigy.ca_file {} holds no usable PEM certificate: {e}",
                    path.display()
                ))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| ApiError::Setup(e.to_string()))?;
        Ok(Http {
            inner: Arc::new(HttpInner {
                client,
                limiter: Semaphore::new(settings.max_in_flight.max(1)),
                settings,
                metrics,
            }),
        })
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    pub(crate) fn default_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.inner.settings.max_attempts.max(1),
        }
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.inner.settings.base_url.clone();
        // Keep a path prefix of the base URL (installs behind a path-routing proxy).
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{path}"));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends one logical request with retries; returns the body of a 2xx answer.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Bytes, ApiError> {
        let Call {
            method,
            route,
            query,
            body,
            auth,
            policy,
            stats,
        } = call;
        let inner = &self.inner;
        let method_name = method_name(&method);
        let url = self.url(&route.path, query);
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            // Permit first, key second: a key is taken only when the request can go out now.
            let (permit, lease) = loop {
                let permit = inner
                    .limiter
                    .acquire()
                    .await
                    .map_err(|_| ApiError::Setup("client closed".into()))?;
                match &auth {
                    Auth::Basic { .. } => break (permit, None),
                    Auth::Key(keys) => match keys.try_lease() {
                        Some(lease) => break (permit, Some(lease)),
                        None => {
                            drop(permit);
                            keys.lease().await;
                        }
                    },
                }
            };
            let mut req = inner
                .client
                .request(method.clone(), url.clone())
                .timeout(inner.settings.request_timeout)
                .header(ACCEPT, "application/json")
                .header(USER_AGENT, crate::USER_AGENT);
            match &auth {
                Auth::Basic { username, password } => {
                    use secrecy::ExposeSecret;
                    req = req.basic_auth(username, Some(password.expose_secret()));
                }
                Auth::Key(_) => {
                    if let Some(lease) = &lease {
                        let mut value = HeaderValue::from_str(lease.expose()).map_err(|_| {
                            ApiError::Decode {
                                method: method_name,
                                path: route.path.clone(),
                                message:
                                    "the Super API-Key holds characters not allowed in a header"
                                        .into(),
                            }
                        })?;
                        value.set_sensitive(true);
                        req = req.header("X-API-Key", value);
                        if let Some(stats) = stats {
                            stats.saw_generation(lease.generation);
                        }
                    }
                }
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            if let Some(stats) = stats {
                stats.requests.fetch_add(1, Ordering::Relaxed);
            }
            let started = Instant::now();
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    match resp.bytes().await {
                        Ok(body) => Ok((status, retry_after, body)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            drop(permit);
            let elapsed = started.elapsed().as_secs_f64();
            let (status, retry_after, bytes) = match outcome {
                Ok(ok) => {
                    inner
                        .metrics
                        .observe_request(route.template, Some(ok.0.as_u16()), elapsed);
                    ok
                }
                Err(e) => {
                    inner.metrics.observe_request(route.template, None, elapsed);
                    let retryable = policy.max_attempts > attempt;
                    let message = transport_message(&e);
                    if retryable {
                        let delay = self.retry_delay(attempt, None);
                        tracing::warn!(route = route.template, method = method_name, error = %message, attempt, retry_in_ms = delay.as_millis() as u64, "Cognigy API request failed; retrying");
                        self.note_retry(route, "network", stats);
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(ApiError::Transport {
                        method: method_name,
                        path: route.path.clone(),
                        message,
                    });
                }
            };
            if status.is_success() {
                return Ok(bytes);
            }
            let problem: Problem = serde_json::from_slice(&bytes).unwrap_or_default();
            let code = status.as_u16();
            if let (Auth::Key(keys), Some(lease)) = (&auth, &lease)
                && matches!(code, 401 | 403)
                && !refreshed
            {
                // Refused key: ask for a fresh one (only if this generation is still current)
                // and retry once with whatever key is current then.
                refreshed = true;
                keys.reject(lease.generation);
                if let Some(stats) = stats {
                    stats.key_refreshes.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(
                    route = route.template,
                    status = code,
                    trace_id = problem.trace_id.as_deref(),
                    generation = lease.generation,
                    "Cognigy refused the Super API-Key; retrying with a fresh key"
                );
                attempt -= 1;
                continue;
            }
            if is_retryable_status(status) && attempt < policy.max_attempts {
                let delay = self.retry_delay(attempt, retry_after);
                tracing::warn!(
                    route = route.template,
                    method = method_name,
                    status = code,
                    trace_id = problem.trace_id.as_deref(),
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    "Cognigy API answered with a retryable status; retrying"
                );
                self.note_retry(route, retry_reason(code), stats);
                tokio::time::sleep(delay).await;
                continue;
            }
            tracing::warn!(
                route = route.template,
                method = method_name,
                status = code,
                trace_id = problem.trace_id.as_deref(),
                code = problem.code.as_deref(),
                "Cognigy API error"
            );
            return Err(ApiError::Status {
                method: method_name,
                path: route.path.clone(),
                status: code,
                problem: Box::new(problem),
            });
        }
    }

    fn note_retry(&self, route: &Route, reason: &'static str, stats: Option<&RequestStats>) {
        self.inner.metrics.observe_retry(route.template, reason);
        if let Some(stats) = stats {
            stats.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `Retry-After` when the server sent one, else full jitter over an exponential ceiling.
    fn retry_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(MAX_RETRY_AFTER);
        }
        let s = &self.inner.settings;
        let ceiling = s
            .retry_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(s.retry_max);
        let millis = rand::thread_rng().gen_range(0..=ceiling.as_millis() as u64);
        // A floor of 50 ms keeps even an unlucky draw from retrying at once.
        Duration::from_millis(millis.max(50))
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// 408, 429 and 5xx except 511 (Network Authentication Required will not heal by retrying).
fn is_retryable_status(s: StatusCode) -> bool {
    s == StatusCode::REQUEST_TIMEOUT
        || s == StatusCode::TOO_MANY_REQUESTS
        || (s.is_server_error() && s != StatusCode::NETWORK_AUTHENTICATION_REQUIRED)
}

fn retry_reason(code: u16) -> &'static str {
    match code {
        408 => "status_408",
        429 => "status_429",
        500 => "status_500",
        502 => "status_502",
        503 => "status_503",
        504 => "status_504",
        _ => "status_5xx",
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A transport error without the URL's query (which never holds secrets here, but stays short).
fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        let future = SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after(&httpdate::fmt_http_date(future)).unwrap();
        assert!(
            d > Duration::from_secs(110) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn retryable_statuses_follow_the_contract() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 511] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
    }
}
