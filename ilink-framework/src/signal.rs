//! [`ShutdownSignal`]: ctrl-c or SIGTERM, listened to from the moment it is
//! created.
//!
//! `tokio::signal::ctrl_c()` installs its handler only when first polled, so
//! a ctrl-c that arrives after "press ctrl-c to stop" was printed but before
//! the wait began would end the process without draining. Create the signal
//! first, then tell the user, then wait.
//!
//! ```no_run
//! # async fn demo(handle: ilink_framework::BotHandle) -> Result<(), ilink_framework::BotError> {
//! use ilink_framework::ShutdownSignal;
//!
//! let signal = ShutdownSignal::new();
//! println!("Press ctrl-c to stop.");
//! let report = handle.run_until(signal).await?;
//! println!("{} message(s) left unhandled", report.unhandled);
//! # Ok(()) }
//! ```

/// Ctrl-c (SIGINT) or, on Unix, SIGTERM (what `docker stop` and systemd send).
pub struct ShutdownSignal {
    source: Source,
}

enum Source {
    /// SIGINT and SIGTERM listeners.
    #[cfg(unix)]
    Unix(tokio::signal::unix::Signal, tokio::signal::unix::Signal),
    /// `tokio::signal::ctrl_c`, where no listener could be installed up front.
    CtrlC,
    /// Signals sent by a test, one per message.
    #[cfg(test)]
    Channel(tokio::sync::mpsc::UnboundedReceiver<()>),
}

impl ShutdownSignal {
    /// Starts listening now. Must be called inside a Tokio runtime.
    pub fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            if let (Ok(int), Ok(term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                return Self {
                    source: Source::Unix(int, term),
                };
            }
        }
        Self {
            source: Source::CtrlC,
        }
    }

    /// A signal that fires once per message on `rx`: process signals are
    /// shared by every test of the binary, and the OS merges signals that
    /// arrive before they are received.
    #[cfg(test)]
    pub(crate) fn from_channel(rx: tokio::sync::mpsc::UnboundedReceiver<()>) -> Self {
        Self {
            source: Source::Channel(rx),
        }
    }

    /// Waits for the next signal; signals that arrived since the listener was
    /// created (and not yet received) count.
    pub async fn recv(&mut self) {
        match &mut self.source {
            #[cfg(unix)]
            Source::Unix(int, term) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            Source::CtrlC => {
                // No handler could be installed: ctrl-c keeps its default
                // effect (ending the process), so never completing is the
                // right fallback.
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            #[cfg(test)]
            Source::Channel(rx) => {
                if rx.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

impl Default for ShutdownSignal {
    fn default() -> Self {
        Self::new()
    }
}

/// Resolves on ctrl-c or, on Unix, SIGTERM, listening from the call on.
pub async fn wait_for_signal() {
    ShutdownSignal::new().recv().await;
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_sent_before_the_wait_is_not_lost() {
        let mut signal = ShutdownSignal::new();
        // SIGTERM to ourselves; with the listener installed it is caught
        // instead of ending the test process, and it is kept for `recv`.
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        tokio::time::timeout(std::time::Duration::from_secs(10), signal.recv())
            .await
            .expect("the signal sent before the wait was received");
    }
}
