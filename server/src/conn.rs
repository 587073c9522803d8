//! Deadlines on every connection of both servers, below HTTP and gRPC, so that a client
//! that goes quiet costs a socket for a bounded time and never more:
//!
//! - **first byte**: a new connection that sends nothing is closed after the header
//!   timeout (HTTP/1 then bounds each request's headers itself, with hyper's
//!   header-read timeout);
//! - **idle**: a connection on which no byte moves either way for the idle timeout is
//!   closed (between requests, or a client that stopped reading a stream whose flow
//!   control keeps the server from writing);
//! - **write**: a write that the peer does not take (it stopped reading and its window
//!   or the socket buffers are full) for the write timeout closes the connection.
//!
//! A closed connection ends its requests; the handlers' futures are dropped with it, and
//! so is whatever they held (an export's next chunk, a stream's slot).

use std::future::Future;
use std::io;
use std::pin::Pin;
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

/// A connection with [`Timeouts`].
#[derive(Debug)]
pub(crate) struct Guarded<IO> {
    io: IO,
    timeouts: Timeouts,
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
    pub(crate) fn new(io: IO, timeouts: Timeouts) -> Guarded<IO> {
        let now = Instant::now();
        Guarded {
            io,
            timeouts,
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

    /// Bookkeeping after a write (or flush) answered.
    fn wrote<T>(&mut self, done: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match done {
            Poll::Ready(result) => {
                self.stalled = None;
                self.last = Instant::now();
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
        this.wrote(done, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let done = Pin::new(&mut this.io).poll_write_vectored(cx, data);
        this.wrote(done, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let done = Pin::new(&mut this.io).poll_flush(cx);
        this.wrote(done, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Guarded<tokio::net::TcpStream> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
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

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_cut_after_the_header_timeout() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(ours, SHORT);
        let started = Instant::now();
        let err = guarded.read(&mut [0; 8]).await.expect_err("cut");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), SHORT.header);
    }

    #[tokio::test(start_paused = true)]
    async fn once_heard_a_connection_may_rest_for_the_idle_timeout() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut guarded = Guarded::new(ours, SHORT);
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
    async fn a_write_the_peer_does_not_take_fails_after_the_write_timeout() {
        let (ours, mut theirs) = tokio::io::duplex(16);
        let mut guarded = Guarded::new(ours, SHORT);
        // 16 bytes fit the pipe; the rest waits for a reader that never reads.
        let started = Instant::now();
        let err = guarded.write_all(&[7; 64]).await.expect_err("cut");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), SHORT.write);
        // A reader that does read keeps a long write going.
        let (ours, mut reader) = tokio::io::duplex(16);
        let mut guarded = Guarded::new(ours, SHORT);
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
