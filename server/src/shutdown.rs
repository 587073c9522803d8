//! Stopping: the first SIGINT or SIGTERM flips one flag that the gRPC and HTTP servers
//! both watch; each then stops taking connections and gives requests in flight a grace
//! period.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// Flips to `true` once a signal arrives.
pub(crate) type Stop = watch::Receiver<bool>;

/// Starts watching for SIGINT and SIGTERM (within a runtime).
pub(crate) fn on_signal() -> Stop {
    let (flip, stop) = watch::channel(false);
    tokio::spawn(async move {
        signal().await;
        eprintln!("auditlogd: stopping; finishing the requests in flight");
        let _ = flip.send(true);
    });
    stop
}

/// Resolves once `stop` has flipped.
pub(crate) async fn stopped(mut stop: Stop) {
    let _ = stop.wait_for(|&flipped| flipped).await;
}

/// Runs `serving` (which stops accepting once `stop` flips and ends when its requests
/// have) but no longer than `grace` after the flip: a client that keeps a stream open
/// does not keep the server up. The connections left then end with the runtime.
pub(crate) async fn with_grace(
    serving: impl Future<Output = anyhow::Result<()>>,
    stop: Stop,
    grace: Duration,
    what: &str,
) -> anyhow::Result<()> {
    let grace_over = async {
        stopped(stop).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = serving => served,
        () = grace_over => {
            eprintln!("auditlogd: cutting {what} connections still open {grace:?} after the signal");
            Ok(())
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        // Without a SIGTERM handler, Ctrl-C still stops the server.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
