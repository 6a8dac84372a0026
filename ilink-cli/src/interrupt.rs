//! Ctrl-c as a future that sees every interrupt after it was created.
//!
//! `tokio::signal::ctrl_c()` only listens while it is being awaited, so a
//! ctrl-c that arrives while a loop stores a batch between two waits would
//! be lost, and one that arrives before the first wait kills the process
//! without cleanup. [`listen`] installs the listener at once and keeps it.

use std::future::Future;
use std::pin::Pin;

/// A future that completes on ctrl-c.
pub type Interrupt = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts listening for ctrl-c now; poll the result with `&mut` in every wait.
pub async fn listen() -> Interrupt {
    let mut interrupt: Interrupt = Box::pin(async {
        // If no handler can be installed, ctrl-c keeps its default effect
        // (ending the process), so never completing is the right fallback.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    });
    // One poll registers the handler before anything is shown to the user.
    let already = tokio::select! {
        biased;
        _ = &mut interrupt => true,
        _ = std::future::ready(()) => false,
    };
    if already {
        Box::pin(std::future::ready(()))
    } else {
        interrupt
    }
}
