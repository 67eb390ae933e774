//! Structured logs with `tracing`: JSON lines in containers, human-readable on a terminal.
//! `RUST_LOG` overrides the configured level.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Output format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Pretty,
}

impl Format {
    /// Pretty on a terminal, JSON otherwise (containers, pipes).
    pub fn detect() -> Format {
        if std::io::stderr().is_terminal() {
            Format::Pretty
        } else {
            Format::Json
        }
    }
}

/// Installs the global subscriber (logs go to stderr). Safe to call once per process.
pub fn init(format: Format, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_span_events(FmtSpan::NONE)
            .try_init(),
        Format::Pretty => builder.compact().try_init(),
    };
    // A second call (tests) keeps the first subscriber.
    let _ = result;
}
