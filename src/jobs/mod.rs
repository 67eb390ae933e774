//! Cron scheduling ([`cron`], [`scheduler`]) and the organisation-wide jobs it runs.
pub mod cron;
pub mod scheduler;
