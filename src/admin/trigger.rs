//! `POST /jobs/{name}/run`: starts a run now, under the job's overlap policy.
//!
//! The route exists only when `admin.trigger_token` is configured and then requires
//! `Authorization: Bearer <token>`, compared in constant time. Answers:
//! 202 started or queued (with the run's identifier), 409 skipped by the overlap policy,
//! 404 unknown job, 401 missing or wrong token, 503 while draining.

use super::AdminState;
use crate::jobs::scheduler::{SchedulerError, TriggerResult};
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::net::SocketAddr;
use subtle::{Choice, ConstantTimeEq};

/// The trigger's JSON answer.
#[derive(Debug, Serialize)]
pub struct TriggerAnswer {
    pub job: String,
    /// `started`, `queued`, `skipped`, or absent for errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TriggerResult>,
    /// The run's identifier (it reappears in `/status` as `jobs[].running_id` and
    /// `jobs[].last_runs[].id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub message: String,
}

/// `true` when `header` is `Bearer <token>` with exactly the expected token. The time taken
/// depends only on the expected token's length, not on how much of it the caller got right.
pub fn bearer_matches(header: Option<&HeaderValue>, expected: &SecretString) -> bool {
    let Some(presented) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, token)) = presented.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    constant_time_eq(token.trim().as_bytes(), expected.expose_secret().as_bytes())
}

fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let same_length = (presented.len() as u64).ct_eq(&(expected.len() as u64));
    let mut same_bytes = Choice::from(1);
    for (i, byte) in expected.iter().enumerate() {
        let other = presented.get(i).copied().unwrap_or(0);
        same_bytes &= byte.ct_eq(&other);
    }
    bool::from(same_length & same_bytes)
}

fn answer(status: StatusCode, body: TriggerAnswer) -> Response {
    (status, Json(body)).into_response()
}

pub(super) async fn trigger(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    // The route is only routed with a token; treat its absence like a missing route anyway.
    let Some(expected) = state.trigger_token.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !bearer_matches(headers.get(header::AUTHORIZATION), expected) {
        tracing::warn!(%peer, job = %name, "job trigger refused: missing or wrong bearer token");
        let mut response = answer(
            StatusCode::UNAUTHORIZED,
            TriggerAnswer {
                job: name,
                result: None,
                run_id: None,
                message:
                    "send `Authorization: Bearer <token>` with the configured admin.trigger_token"
                        .into(),
            },
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"cognigy-warden\""),
        );
        return response;
    }
    if state.is_draining() {
        return draining(name);
    }
    match state.scheduler.trigger_run(&name) {
        Ok(triggered) => {
            let (status, message) = match triggered.result {
                TriggerResult::Started => (StatusCode::ACCEPTED, "run started".to_string()),
                TriggerResult::Queued => (
                    StatusCode::ACCEPTED,
                    "a run is in progress; this one is queued to run after it".to_string(),
                ),
                TriggerResult::Skipped => (
                    StatusCode::CONFLICT,
                    "a run is in progress and the overlap policy skips this one; see /status"
                        .to_string(),
                ),
            };
            let result = match triggered.result {
                TriggerResult::Started => "started",
                TriggerResult::Queued => "queued",
                TriggerResult::Skipped => "skipped",
            };
            tracing::info!(%peer, job = %name, result, run = triggered.run_id.as_deref(), "job triggered over the admin API");
            answer(
                status,
                TriggerAnswer {
                    job: name,
                    result: Some(triggered.result),
                    run_id: triggered.run_id,
                    message,
                },
            )
        }
        Err(e @ SchedulerError::UnknownJob { .. }) => answer(
            StatusCode::NOT_FOUND,
            TriggerAnswer {
                job: name,
                result: None,
                run_id: None,
                message: e.to_string(),
            },
        ),
        Err(SchedulerError::ShuttingDown { .. }) => draining(name),
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            TriggerAnswer {
                job: name,
                result: None,
                run_id: None,
                message: e.to_string(),
            },
        ),
    }
}

fn draining(job: String) -> Response {
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        TriggerAnswer {
            job,
            result: None,
            run_id: None,
            message: "shutting down: no new runs start".into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let token = SecretString::from("s3cret-token".to_string());
        assert!(bearer_matches(Some(&header("Bearer s3cret-token")), &token));
        assert!(bearer_matches(Some(&header("bearer s3cret-token")), &token));
        for wrong in [
            "Bearer s3cret-toke",
            "Bearer s3cret-token2",
            "Bearer S3cret-token",
            "Bearer ",
            "Bearer",
            "Basic s3cret-token",
            "s3cret-token",
            "",
        ] {
            assert!(!bearer_matches(Some(&header(wrong)), &token), "{wrong:?}");
        }
        assert!(!bearer_matches(None, &token));
    }

    #[test]
    fn constant_time_eq_compares_length_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc\0", b"abc"));
        assert!(!constant_time_eq(b"ab", b"ab\0"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
