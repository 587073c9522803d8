//! Deadlines on every connection of both servers, below HTTP and gRPC, so that a client
//! that goes quiet costs a socket for a bounded time and never more:
//!
//! - **first byte**: a new connection that sends nothing is closed after the header
//!   timeout (HTTP/1 then bounds each request's headers itself, with hyper's
//!   header-read timeout);
//! - **idle**: a connection on which no byte moves either way for the idle timeout, and
//!   no request is being handled, is closed (a gRPC client between calls, or one that
//!   stopped reading a stream whose flow control keeps the server from writing; an idle
//!   HTTP/1 connection is closed sooner, by the header timeout of its next request);
//! - **write**: a write that the peer does not take (it stopped reading and its window
//!   or the socket buffers are full) for the write timeout closes the connection.
//!
//! A closed connection ends its requests; the handlers' futures are dropped with it, and
//! so is whatever they held (an export's next chunk, a stream's slot).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep, sleep, sleep_until};

/// The deadlines (docs/SECURITY.md, "Limits and timeouts").
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// For a new connection's first byte, and for each HTTP/1 request's headers.
    pub(crate) header: Duration,
    /// With no byte read or written.
    pub(crate) idle: Duration,
    /// For a write the peer does not take.
    pub(crate) write: Duration,
}

/// The requests being handled on one connection (until their handler has answered):
/// while any is, the connection is not idle, since a handler may think for longer than
/// the idle timeout with no byte moving (a count over a large log, a quiet ingest
/// stream).
#[derive(Debug, Clone, Default)]
pub(crate) struct Busy(Arc<AtomicUsize>);

impl Busy {
    /// Counts a request until the guard is dropped.
    pub(crate) fn enter(&self) -> BusyGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        BusyGuard(self.clone())
    }

    fn is_busy(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

/// One request being handled.
#[derive(Debug)]
pub(crate) struct BusyGuard(Busy);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a request learns of its connection, in its extensions (tonic puts it there for
/// gRPC, our connection loop for HTTP): where to count itself busy.
#[derive(Debug, Clone, Default)]
pub(crate) struct GuardedInfo {
    pub(crate) busy: Busy,
}

/// A connection with [`Timeouts`].
#[derive(Debug)]
pub(crate) struct Guarded<IO> {
    io: IO,
    timeouts: Timeouts,
    busy: Busy,
    /// When a byte last moved (or the connection opened).
    last: Instant,
    /// Whether a byte was ever read.
    heard: bool,
    /// Fires at `last` + the idle timeout (or the header timeout before the first byte);
    /// reset lazily, when it fires early.
    quiet: Pin<Box<Sleep>>,
    /// Runs while a write waits for the peer.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<IO> Guarded<IO> {
    /// `io` with `timeouts`; requests counted in `busy` hold off the idle timeout.
    pub(crate) fn new(io: IO, timeouts: Timeouts, busy: Busy) -> Guarded<IO> {
        let now = Instant::now();
        Guarded {
            io,
            timeouts,
            busy,
            last: now,
            heard: false,
            quiet: Box::pin(sleep_until(now + timeouts.header)),
            stalled: None,
        }
    }

    fn quiet_deadline(&self) -> Instant {
        let allowed = if self.heard {
            self.timeouts.idle
        } else {
            self.timeouts.header
        };
        self.last + allowed
    }

    /// Whether the connection has been quiet for too long; if not, the timer is set to
    /// wake this task when it would be.
    fn too_quiet(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.heard && self.busy.is_busy() {
                // A handler is at work: quiet is not idle. Look again a timeout later.
                self.last = Instant::now();
            }
            let deadline = self.quiet_deadline();
            if self.quiet.deadline() != deadline {
                self.quiet.as_mut().reset(deadline);
            }
            if self.quiet.as_mut().poll(cx).is_pending() {
                return false;
            }
            if Instant::now() >= self.quiet_deadline() {
                return true;
            }
        }
    }

    /// Whether a pending write has waited too long; if not, the timer wakes this task
    /// when it would have.
    fn write_stalled(&mut self, cx: &mut Context<'_>) -> bool {
        let write = self.timeouts.write;
        let timer = self.stalled.get_or_insert_with(|| Box::pin(sleep(write)));
        timer.as_mut().poll(cx).is_ready()
    }

    /// Bookkeeping after a write (or flush, which `moved` says moved no byte) answered.
    fn wrote<T>(
        &mut self,
        done: Poll<io::Result<T>>,
        moved: impl Fn(&T) -> bool,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match done {
            Poll::Ready(result) => {
                self.stalled = None;
                if result.as_ref().is_ok_and(moved) {
                    self.last = Instant::now();
                }
                Poll::Ready(result)
            }
            Poll::Pending if self.write_stalled(cx) => Poll::Ready(Err(timed_out(format!(
                "the peer took nothing written for {:?}",
                self.timeouts.write
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn timed_out(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, why)
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.last = Instant::now();
                    this.heard = true;
                }
                Poll::Ready(result)
            }
            Poll::Pending if this.too_quiet(cx) => Poll::Ready(Err(timed_out(format!(
                "no byte moved for {:?}",
                this.quiet_deadline() - this.last
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let done = Pin::new(&mut this.io).poll_write(cx, data);
        this.wrote(done, |&n| n > 0, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let done = Pin::new(&mut this.io).poll_write_vectored(cx, data);
        this.wrote(done, |&n| n > 0, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let done = Pin::new(&mut this.io).poll_flush(cx);
        this.wrote(done, |()| false, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Guarded<tokio::net::TcpStream> {
    type ConnectInfo = GuardedInfo;

    fn connect_info(&self) -> GuardedInfo {
        GuardedInfo {
            busy: self.busy.clone(),
        }
    }
}

/// Counts each request busy on its connection until its handler has answered.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BusyLayer;

impl<S> tower::Layer<S> for BusyLayer {
    type Service = BusyService<S>;

    fn layer(&self, inner: S) -> BusyService<S> {
        BusyService(inner)
    }
}

/// The service of [`BusyLayer`].
#[derive(Debug, Clone)]
pub(crate) struct BusyService<S>(S);

impl<S, B> tower::Service<http::Request<B>> for BusyService<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        use tonic::transport::server::TlsConnectInfo;
        let extensions = request.extensions();
        let busy = extensions
            .get::<GuardedInfo>()
            .or_else(|| {
                extensions
                    .get::<TlsConnectInfo<GuardedInfo>>()
                    .map(TlsConnectInfo::get_ref)
            })
            .map(|info| info.busy.enter());
        let answer = self.0.call(request);
        Box::pin(async move {
            let answered = answer.await;
            drop(busy);
            answered
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SHORT: Timeouts = Timeouts {
        header: Duration::from_secs(2),
        idle: Duration::from_secs(5),
        write: Duration::from_secs(3),
    };

    #[tokio::test]
    async fn a_guarded_socket_keeps_vectored_writes() {
        // hyper writes a body chunk with the headers in place (vectored) only on a
        // transport that says it can; otherwise it copies each chunk into its buffer
        // first. An export's chunks are made once and must not be copied again here.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(address), listener.accept());
        let (_client, (socket, _)) = (client.unwrap(), accepted.unwrap());
        assert!(socket.is_write_vectored());
        let guarded = Guarded::new(socket, SHORT, Busy::default());
        assert!(guarded.is_write_vectored());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_cut_after_the_header_timeout() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(ours, SHORT, Busy::default());
        let started = Instant::now();
        let err = guarded.read(&mut [0; 8]).await.expect_err("cut");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), SHORT.header);
    }

    #[tokio::test(start_paused = true)]
    async fn once_heard_a_connection_may_rest_for_the_idle_timeout() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(ours, SHORT, Busy::default());
        theirs.write_all(b"x").await.unwrap();
        assert_eq!(guarded.read(&mut [0; 8]).await.unwrap(), 1);
        let heard = Instant::now();
        // Writes that the peer takes count as activity too.
        tokio::time::sleep(Duration::from_secs(4)).await;
        guarded.write_all(b"y").await.unwrap();
        let wrote = Instant::now();
        let err = guarded.read(&mut [0; 8]).await.expect_err("cut");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(Instant::now() - wrote, SHORT.idle);
        assert!(Instant::now() - heard > SHORT.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_being_handled_holds_off_the_idle_timeout() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let busy = Busy::default();
        let mut guarded = Guarded::new(ours, SHORT, busy.clone());
        theirs.write_all(b"x").await.unwrap();
        assert_eq!(guarded.read(&mut [0; 8]).await.unwrap(), 1);
        let handling = busy.enter();
        let started = Instant::now();
        let reading = tokio::spawn(async move { guarded.read(&mut [0; 8]).await });
        // Three idle timeouts pass while the handler thinks.
        tokio::time::sleep(SHORT.idle * 3).await;
        assert!(!reading.is_finished());
        drop(handling);
        let err = reading.await.unwrap().expect_err("idle once answered");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= SHORT.idle * 3);
    }

    #[tokio::test]
    async fn the_busy_layer_counts_a_request_while_its_handler_works() {
        use tower::{Layer, ServiceExt};
        let info = GuardedInfo::default();
        let seen = info.busy.clone();
        let handler = tower::service_fn(move |_: http::Request<()>| {
            let busy_now = seen.is_busy();
            async move { Ok::<_, std::convert::Infallible>(busy_now) }
        });
        let service = BusyLayer.layer(handler);
        let mut request = http::Request::new(());
        request.extensions_mut().insert(info.clone());
        assert!(
            service.clone().oneshot(request).await.unwrap(),
            "busy in the handler"
        );
        assert!(!info.busy.is_busy(), "idle once answered");
        // A request from no guarded connection is served all the same.
        assert!(!service.oneshot(http::Request::new(())).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_does_not_take_fails_after_the_write_timeout() {
        let (ours, mut theirs) = tokio::io::duplex(16);
        let mut guarded = Guarded::new(ours, SHORT, Busy::default());
        // 16 bytes fit the pipe; the rest waits for a reader that never reads.
        let started = Instant::now();
        let err = guarded.write_all(&[7; 64]).await.expect_err("cut");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), SHORT.write);
        // A reader that does read keeps a long write going.
        let (ours, mut reader) = tokio::io::duplex(16);
        let mut guarded = Guarded::new(ours, SHORT, Busy::default());
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0; 8];
            while got.len() < 64 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let n = reader.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        guarded
            .write_all(&[9; 64])
            .await
            .expect("the reader keeps up");
        assert_eq!(reading.await.unwrap(), vec![9; 64]);
        drop(theirs.write_all(b"").await);
    }
}
