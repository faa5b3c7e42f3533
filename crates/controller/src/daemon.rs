//! The controller daemon: a poll loop over the `ClusterState`, the HTTP API beside it, and a
//! graceful stop (SIGINT/SIGTERM, or a `StopHandle` in tests).
//!
//! ```text
//!  main thread:   loop { wait(poll interval | stop) ; lock state ; step() ; log lines → stderr }
//!  api workers:   GET/PUT/DELETE ──lock state──> reads, or source write + step()
//!                 (plain HTTP on loopback; HTTPS with client certificates beyond it)
//!  signal thread: sigwait(SIGINT, SIGTERM) ──> StopHandle::stop ──> loop ends, API stops
//! ```
//!
//! Signals are blocked in every thread (`block_stop_signals`, called before any thread starts)
//! and taken synchronously by one thread with `sigwait`: no signal handler, no `unsafe`. Stopping
//! leaves the Nodes programmed as they are (agents keep enforcing the last rule sets).

use crate::api::{ApiError, ApiServer, SharedState};
use crate::api_https::HttpsApiServer;
use crate::cluster_state::ClusterState;
use nix::sys::signal::{SigSet, Signal};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// How often the source is polled.
    pub poll_interval: Duration,
    /// Where the HTTP API listens (`None`: no API).
    pub listen: Option<SocketAddr>,
    /// Serve the API over HTTPS with client certificates ([`crate::api_https`]) instead of
    /// plain HTTP (what a listener beyond loopback needs).
    pub api_tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            poll_interval: Duration::from_millis(200),
            listen: None,
            api_tls: None,
        }
    }
}

/// Asks a running daemon to stop; cloneable, usable from any thread.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<(Mutex<Option<String>>, Condvar)>);

impl StopHandle {
    /// Stops the daemon; `reason` is returned by `Daemon::run`.
    pub fn stop(&self, reason: &str) {
        let (lock, cv) = &*self.0;
        let mut r = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if r.is_none() {
            *r = Some(reason.to_string());
        }
        cv.notify_all();
    }

    /// The reason, once stopped.
    pub fn reason(&self) -> Option<String> {
        let (lock, _) = &*self.0;
        lock.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `timeout`; returns the reason when stopped.
    fn wait(&self, timeout: Duration) -> Option<String> {
        let (lock, cv) = &*self.0;
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (guard, _) = cv
            .wait_timeout_while(guard, timeout, |r| r.is_none())
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.clone()
    }
}

/// SIGINT and SIGTERM, blocked; `forward_to` turns them into a stop.
#[derive(Debug)]
pub struct StopSignals(SigSet);

/// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards. Call
/// it before any other thread is started, so that no thread gets the default action.
pub fn block_stop_signals() -> Result<StopSignals, nix::Error> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()?;
    Ok(StopSignals(set))
}

impl StopSignals {
    /// Starts the thread that waits for the signals and stops the daemon.
    pub fn forward_to(self, stop: StopHandle) {
        std::thread::spawn(move || {
            if let Ok(signal) = self.0.wait() {
                stop.stop(signal.as_str());
            }
        });
    }
}

/// The API server: plain HTTP (loopback) or HTTPS with client certificates.
enum Api {
    Plain(ApiServer),
    Https(HttpsApiServer),
}

/// A started daemon.
pub struct Daemon {
    state: SharedState,
    api: Option<Api>,
    stop: StopHandle,
    poll_interval: Duration,
}

impl Daemon {
    /// Starts the API (when asked) over a started `ClusterState`.
    pub fn start(state: ClusterState, options: &DaemonOptions) -> Result<Daemon, ApiError> {
        let state = Arc::new(Mutex::new(state));
        let api = match options.listen {
            Some(listen) => Some(match &options.api_tls {
                None => Api::Plain(ApiServer::start(listen, state.clone())?),
                Some(tls) => Api::Https(HttpsApiServer::start(
                    listen,
                    Arc::clone(tls),
                    state.clone(),
                )?),
            }),
            None => None,
        };
        Ok(Daemon {
            state,
            api,
            stop: StopHandle::default(),
            poll_interval: options.poll_interval,
        })
    }

    /// Where the API listens.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        match self.api.as_ref()? {
            Api::Plain(api) => api.local_addr(),
            Api::Https(api) => Some(api.local_addr()),
        }
    }

    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Runs until stopped, writing one line per change to `log` (each in one write: agent
    /// processes share the controller's stderr); returns the stop reason.
    pub fn run(self, log: &mut dyn Write) -> String {
        let reason = loop {
            let lines = {
                let mut s = self
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                s.step();
                s.take_log()
            };
            for l in lines {
                let _ = log.write_all(format!("{l}\n").as_bytes());
            }
            let _ = log.flush();
            if let Some(reason) = self.stop.wait(self.poll_interval) {
                break reason;
            }
        };
        match self.api {
            Some(Api::Plain(api)) => api.stop(),
            Some(Api::Https(api)) => api.stop(),
            None => {}
        }
        let lines = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take_log();
        for l in lines {
            let _ = log.write_all(format!("{l}\n").as_bytes());
        }
        let _ = log.flush();
        reason
    }
}
