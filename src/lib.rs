//! cognigy-warden: keeps an organisation-wide Cognigy.AI Super API-Key fresh and runs
//! organisation-wide jobs with it.
//!
//! Module map (see `docs/architecture.md`):
//! - [`config`]: figment configuration, validation, redacted printing.
//! - [`cognigy`]: the HTTP client for the Cognigy API (management + resource routes).
//! - [`superkey`]: the keeper that always holds a usable Super API-Key.
//! - [`jobs`]: cron scheduling and the organisation-wide jobs.
//! - [`report`]: atomic report run directories, retention, file writers.
//! - [`admin`]: the admin HTTP surface (probes, metrics, status, trigger).
//! - [`metrics`]: Prometheus metric families.
//! - [`sandbox`]: a built-in stand-in Cognigy API for the demo, tests and benchmarks.
//! - [`app`], [`demo`], [`signals`]: wiring of the commands.

pub mod admin;
pub mod app;
pub mod cognigy;
pub mod config;
pub mod demo;
pub mod jobs;
pub mod metrics;
pub mod report;
pub mod sandbox;
pub mod signals;
pub mod superkey;
pub mod telemetry;

/// `cognigy-warden/<version>`, sent as `User-Agent`.
pub const USER_AGENT: &str = concat!("cognigy-warden/", env!("CARGO_PKG_VERSION"));
