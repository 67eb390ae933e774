//! SIGTERM / SIGINT handling: the first signal starts a graceful shutdown, a second one exits
//! at once.

use tokio_util::sync::CancellationToken;

/// Exit status when a second signal cuts the graceful shutdown short (128 + SIGINT).
const EXIT_SECOND_SIGNAL: i32 = 130;

/// Cancels `shutdown` on the first signal; exits the process on the second.
pub fn spawn(shutdown: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received: stopping gracefully (send it again to exit at once)");
        shutdown.cancel();
        wait_for_signal().await;
        tracing::warn!("second signal: exiting at once");
        std::process::exit(EXIT_SECOND_SIGNAL);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
