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

/// Added to the configured level unless it names the target itself: tokio-cron-scheduler
/// logs its internal start-up at info, which says nothing to an operator.
const QUIET_TARGETS: &[&str] = &["tokio_cron_scheduler=warn"];

/// The filter directive for a configured `level`: the level plus [`QUIET_TARGETS`].
pub fn filter_directive(level: &str) -> String {
    let mut directive = level.trim().to_string();
    for quiet in QUIET_TARGETS {
        let target = quiet.split('=').next().unwrap_or(quiet);
        if !directive.contains(target) {
            if !directive.is_empty() {
                directive.push(',');
            }
            directive.push_str(quiet);
        }
    }
    directive
}

/// Installs the global subscriber (logs go to stderr). Safe to call once per process.
pub fn init(format: Format, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter_directive(level)))
        .unwrap_or_else(|_| EnvFilter::new(filter_directive("info")));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cron_library_is_quiet_unless_configured() {
        assert_eq!(filter_directive("info"), "info,tokio_cron_scheduler=warn");
        assert_eq!(
            filter_directive("debug,tokio_cron_scheduler=debug"),
            "debug,tokio_cron_scheduler=debug"
        );
        assert!(EnvFilter::try_new(filter_directive("warn,cognigy_warden=debug")).is_ok());
    }
}
