//! The manager's server: opens the store in the data directory, serves the API over HTTPS
//! (rustls, client certificates optional) or plain HTTP, and shuts down gracefully (stops
//! accepting, lets requests in flight finish for up to 10 s, then closes the store).
//!
//! ```text
//!  TcpListener ─accept─► [TLS handshake → peer certificate] ─► hyper (HTTP/1.1, h2)
//!                                                        └► axum router (api::router)
//! ```

use crate::api::{self, ClientCertTrust, Manager, PeerCertificate};
use crate::auth::{Authenticator, User};
use crate::store::{RedbStore, Store, StoreError};
use crate::tls::{TlsError, TlsFiles};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What to serve.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Holds `manager.redb` and, without given TLS files, `tls/server.{crt,key}`.
    pub data_dir: PathBuf,
    /// None: plain HTTP (`--insecure-http`).
    pub tls: Option<TlsFiles>,
    pub users: Vec<User>,
}

/// A server that is accepting connections.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub manager: Arc<Manager>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, drains requests in flight, and waits until the store is closed.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops (it stops only through [`RunningServer::shutdown`]).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Opens the store, binds the address and starts serving.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&config.data_dir)?);
    let tls = match &config.tls {
        Some(files) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
            files,
            &config.data_dir,
        )?)),
        None => None,
    };
    let trust = match config.tls.as_ref().and_then(|t| t.client_ca.as_ref()) {
        Some(_) => ClientCertTrust::CertificateAuthority,
        None => ClientCertTrust::Pinned,
    };
    let manager = Arc::new(Manager::new(
        store,
        Authenticator::new(config.users.clone()),
        trust,
        tls.is_some(),
    )?);
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let app = api::router(Arc::clone(&manager));
    let task = tokio::spawn(accept_loop(listener, tls, app, shutdown_rx));
    tracing::info!(%local_addr, https = config.tls.is_some(), "manager listening");
    Ok(RunningServer {
        local_addr,
        manager,
        shutdown,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| Arc::new(c.as_ref().to_vec()));
                    let service = with_peer(app, PeerCertificate(cert));
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                None => {
                    let service = with_peer(app, PeerCertificate(None));
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

/// The router as a hyper service that tags every request with the connection's certificate.
fn with_peer(
    app: axum::Router,
    peer: PeerCertificate,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl std::future::Future<
        Output = Result<axum::response::Response, std::convert::Infallible>,
    > + Send
             + 'static,
> + Clone
+ Send
+ 'static {
    hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer.clone());
        app.clone().oneshot(req)
    })
}
