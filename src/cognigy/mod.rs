//! The Cognigy API client: typed items, problem-body errors, retries, paging.
//!
//! - [`Http`]: the shared core (connection pool, concurrency limit, retries, metrics);
//! - [`Management`]: Basic-auth management routes and the [`ManagementKeySource`] for the keeper;
//! - [`Api`]: resource routes with the Super API-Key, read from the keeper at send time.

pub mod api;
pub mod client;
pub mod error;
pub mod management;
pub mod model;
pub mod routes;

pub use api::Api;
pub use client::{ClientSettings, Http, Route, StatsSnapshot};
pub use error::ApiError;
pub use management::{Management, ManagementKeySource};
