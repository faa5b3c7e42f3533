//! The accept loop shared by the controller's two HTTPS servers (the Node stream and the API
//! beyond loopback): TLS with a required client certificate (verified by rustls against the
//! controller's CA, so a foreign certificate never reaches HTTP), then HTTP/1.1 or HTTP/2 on
//! the connection, every request tagged with what the certificate's common name says.
//!
//! ```text
//!  accept ──TLS handshake (10 s at most)──> CN of the client certificate ──tag(CN)──> T
//!      ──request.extensions ∋ T──> the axum router ── shutdown: every connection ends
//! ```

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// Errors starting a server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("starting its runtime: {0}")]
    Runtime(std::io::Error),
}

/// A running mutual-TLS server on a runtime thread of its own; stopped on drop.
pub struct MtlsServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for MtlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtlsServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl MtlsServer {
    /// Binds `listen` (port 0 picks a free port) and serves `app` with `tls` on a runtime of
    /// `workers` threads named `name` (see [`serve`] for `tag`).
    pub fn start<T, F>(
        name: &str,
        workers: usize,
        listen: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        app: Router,
        tag: F,
    ) -> Result<MtlsServer, ServeError>
    where
        T: Clone + Send + Sync + 'static,
        F: Fn(Option<String>) -> T + Clone + Send + Sync + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let listen_error = |source| ServeError::Listen {
            addr: listen,
            source,
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                runtime.block_on(serve(listener, acceptor, app, tag, shutdown_rx));
                runtime.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(ServeError::Runtime)?;
        Ok(MtlsServer {
            local_addr,
            shutdown,
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and ends every connection.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MtlsServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` turns true; each request carries
/// `tag(common name of the client certificate)` as an extension.
pub async fn serve<T, F>(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    tag: F,
    mut shutdown: watch::Receiver<bool>,
) where
    T: Clone + Send + Sync + 'static,
    F: Fn(Option<String>) -> T + Clone + Send + Sync + 'static,
{
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, acceptor, tag, mut shutdown) =
            (app.clone(), acceptor.clone(), tag.clone(), shutdown.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
            else {
                return;
            };
            let name = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| common_name(c.as_ref()));
            let tagged = tag(name);
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(tagged.clone());
                    app.clone().oneshot(req)
                },
            );
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.changed() => {}
            }
        });
    }
}

/// The common name of a DER certificate.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}
