//! A background thread of the server's own (the archiver, the expiry): named, with a
//! channel that asks it to stop, and a small runtime of its own for the object store's
//! async calls, apart from the request runtime, so its work never holds a request's
//! worker.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

/// A running background thread; dropping it asks the thread to stop.
#[derive(Debug)]
pub(crate) struct Worker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Runs `work` on a thread named `name`, with the receiver that disconnects when it
    /// is asked to stop.
    pub(crate) fn start(
        name: &str,
        work: impl FnOnce(&Receiver<()>) + Send + 'static,
    ) -> std::io::Result<Worker> {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || work(&stopped))?;
        Ok(Worker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Asks the thread to stop and waits for it: for as long as it takes, or up to
    /// `grace` (a thread still working then is left to end with the process).
    pub(crate) fn stop(mut self, grace: Option<Duration>) {
        drop(self.stop.take());
        let Some(thread) = self.thread.take() else {
            return;
        };
        if let Some(grace) = grace {
            let deadline = Instant::now() + grace;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if !thread.is_finished() {
                return;
            }
        }
        let _ = thread.join();
    }
}

/// An HTTP client for calls out of the server (sinks, witnesses): no redirects followed,
/// TLS from rustls's process-wide provider (ring, built for the servers' TLS already; an
/// error installing it means one is installed), `timeout` to connect and to finish.
pub(crate) fn http_client(
    connect: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    http_client_builder(connect, timeout).build()
}

/// [`http_client`]'s settings, for a caller that adds its own (etcd's client keeps no
/// connection between calls).
pub(crate) fn http_client_builder(connect: Duration, timeout: Duration) -> reqwest::ClientBuilder {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .timeout(timeout)
}

/// The thread's own runtime; None (said on stderr, naming `what`) if it cannot start.
pub(crate) fn own_runtime(what: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            eprintln!("auditlogd: {what}: cannot start its runtime: {e}");
            None
        }
    }
}
