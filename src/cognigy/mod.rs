//! The Cognigy API client: typed items, problem-body errors, retries, paging.

pub mod model;
