//! TLS for both servers, from a PEM certificate chain and private key (rustls, with the
//! ring provider). gRPC uses tonic's acceptor; HTTP a listener whose connections have
//! finished their handshake, each handshake on its own task with a deadline, so a slow
//! or silent client never holds up the others.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tonic::transport::{Identity, ServerTlsConfig};

/// How long a client has to finish its handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// HTTP handshakes under way at once; more connections wait to be accepted.
const MAX_HANDSHAKES: usize = 256;

/// A certificate chain and its key, read and checked once at start. (No `Debug`: it
/// holds the private key.)
#[derive(Clone)]
pub(crate) struct TlsFiles {
    cert: Vec<u8>,
    key: Vec<u8>,
    http: Arc<ServerConfig>,
}

impl TlsFiles {
    /// Reads `cert` (PEM, the server's certificate first) and `key` (PEM, PKCS#8, SEC1 or
    /// PKCS#1) and checks that they make a usable configuration.
    pub(crate) fn load(cert: &Path, key: &Path) -> anyhow::Result<TlsFiles> {
        let read = |path: &Path| {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        };
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{}: not PEM certificates", cert.display()))?;
        anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
        let private = PrivateKeyDer::from_pem_slice(&key_pem)
            .with_context(|| format!("{}: no PEM private key", key.display()))?;
        let mut http = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .context("the certificate and key do not make a TLS configuration")?;
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsFiles {
            cert: cert_pem,
            key: key_pem,
            http: Arc::new(http),
        })
    }

    /// The gRPC server's configuration.
    pub(crate) fn grpc(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .timeout(HANDSHAKE_DEADLINE)
    }

    /// A listener for the HTTP server: connections come out of it encrypted.
    pub(crate) fn http_listener(&self, listener: TcpListener) -> io::Result<TlsListener> {
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::clone(&self.http));
        let (ready, incoming) = mpsc::channel(64);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                // Stop (and free the port) as soon as the server is gone.
                let accepted = tokio::select! {
                    () = ready.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((tcp, peer)) = accepted else {
                    // Out of descriptors and the like: let the pressure pass.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let Ok(slot) = Arc::clone(&handshakes).acquire_owned().await else {
                    return;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, ready) = (acceptor.clone(), ready.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(tcp));
                    let done = handshake.await;
                    drop(slot);
                    // A failed or late handshake is the client's problem: drop it.
                    if let Ok(Ok(stream)) = done {
                        let _ = ready.send((stream, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { addr, incoming })
    }
}

/// Connections that finished their TLS handshake.
#[derive(Debug)]
pub(crate) struct TlsListener {
    addr: SocketAddr,
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accepting task is gone (it never ends while this listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
