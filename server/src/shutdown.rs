//! Stopping: the first SIGINT or SIGTERM flips one flag that the gRPC and HTTP servers
//! both watch; each then stops taking connections and gives requests in flight a grace
//! period.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// Flips to `true` once a signal arrives.
pub(crate) type Stop = watch::Receiver<bool>;

/// Starts watching for SIGINT and SIGTERM (within a runtime). The handlers are in place
/// when this returns, so an early signal too stops the server cleanly.
pub(crate) fn on_signal() -> anyhow::Result<Stop> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (flip, stop) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        eprintln!("auditlogd: stopping; finishing the requests in flight");
        let _ = flip.send(true);
    });
    Ok(stop)
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
