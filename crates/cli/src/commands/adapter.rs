//! `tierwall adapter`: the adapter of one cluster (`tierwall_adapter`), long-running. It takes
//! the manager's policies and groups that span the cluster, writes them as Antrea objects through
//! the cluster's controller, overwrites drift, and reports inventory, group members, realization,
//! statistics and a heartbeat.
//!
//! ```text
//!  tierwall adapter --manager https://HOST:PORT --cluster-id ID --controller http://127.0.0.1:P
//!                   --cert CERT.pem --key KEY.pem --ca MANAGER-CA.pem
//!                   [--generate-cert] [--register] [--stats-interval S] [--heartbeat-interval S]
//!  tierwall adapter --manager http://HOST:PORT --insecure-http ...   (Basic auth, local use)
//! ```
//!
//! The principal identity is the client certificate (CN = cluster id). `--generate-cert`
//! writes a self-signed one to `--cert`/`--key` when they do not exist; `--register` joins the
//! cluster with that certificate using the user `admin` (password in `TIERWALL_ADMIN_PASSWORD`).
//! With `--insecure-http` the adapter authenticates as `admin` with Basic. Logs go to stderr,
//! one line per change; SIGINT or SIGTERM stops it.

use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tierwall_adapter::{Adapter, AdapterOptions, ControllerClient};
use tierwall_manager_client::{ClusterControlPlaneClient, ManagerAuth, Registration, TlsTrust};

/// The environment variable holding the `admin` password (for `--register`, `--insecure-http`).
pub const ADMIN_PASSWORD_ENV: &str = "TIERWALL_ADMIN_PASSWORD";

/// Options of `tierwall adapter`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdapterArgs {
    /// Base URL of the manager (`https://HOST:PORT`; `http://` with --insecure-http).
    #[arg(long, value_name = "URL")]
    pub manager: String,
    /// The cluster-control-plane id (also the CN of the client certificate).
    #[arg(long, value_name = "ID")]
    pub cluster_id: String,
    /// Base URL of the cluster's controller API (`http://127.0.0.1:PORT`).
    #[arg(long, value_name = "URL")]
    pub controller: String,
    /// The adapter's API client identity for a controller that listens beyond loopback
    /// (`https://`): a directory with tls.crt, tls.key and the controller's ca.crt, such as
    /// `<pki>/clients/admin`.
    #[arg(long, value_name = "DIR")]
    pub controller_identity: Option<PathBuf>,
    /// PEM client certificate (the principal identity, CN = cluster id).
    #[arg(long, value_name = "FILE", required_unless_present = "insecure_http")]
    pub cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, value_name = "FILE", required_unless_present = "insecure_http")]
    pub key: Option<PathBuf>,
    /// PEM CA certificate that signs the manager's server certificate.
    #[arg(long, value_name = "FILE", required_unless_present = "insecure_http")]
    pub ca: Option<PathBuf>,
    /// Write a self-signed client certificate (CN = cluster id) to --cert/--key if they do not
    /// exist yet.
    #[arg(long, conflicts_with = "insecure_http")]
    pub generate_cert: bool,
    /// Register the cluster with the certificate first (as admin, password in
    /// TIERWALL_ADMIN_PASSWORD); nothing happens if it is already registered with it.
    #[arg(long, conflicts_with = "insecure_http")]
    pub register: bool,
    /// Seconds between statistics reports (NSX: 60).
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub stats_interval: u64,
    /// Seconds between heartbeats (the `report_interval` of the cluster's status).
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub heartbeat_interval: u64,
    /// Milliseconds between re-reads of the cluster's managed objects (drift is overwritten on
    /// the next one).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub resync_ms: u64,
    /// Talk plain HTTP to a manager started with --insecure-http, as admin with Basic
    /// (password in TIERWALL_ADMIN_PASSWORD). For local use only.
    #[arg(long)]
    pub insecure_http: bool,
}

fn admin_password() -> anyhow::Result<String> {
    std::env::var(ADMIN_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .with_context(|| format!("set {ADMIN_PASSWORD_ENV} to the password of the user admin"))
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// Writes a self-signed client certificate and key for `cluster_id` (the key readable by its
/// owner only).
fn generate_identity(cluster_id: &str, cert: &Path, key: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let (cert_pem, key_pem) = tierwall_manager::tls::self_signed_client_identity(cluster_id)?;
    let mut key_file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(key)
        .with_context(|| format!("creating {}", key.display()))?;
    key_file.write_all(key_pem.as_bytes())?;
    std::fs::write(cert, cert_pem).with_context(|| format!("writing {}", cert.display()))?;
    Ok(())
}

/// Runs the adapter until SIGINT or SIGTERM.
pub fn run(args: &AdapterArgs, err: &mut dyn Write) -> anyhow::Result<u8> {
    if args.cluster_id.is_empty() {
        bail!("--cluster-id must not be empty");
    }
    let (auth, trust, cert_pem) = if args.insecure_http {
        if !args.manager.starts_with("http://") {
            bail!("--insecure-http needs an http:// manager URL");
        }
        (
            ManagerAuth::Basic {
                user: "admin".into(),
                password: admin_password()?,
            },
            TlsTrust::System,
            None,
        )
    } else {
        let (Some(cert), Some(key), Some(ca)) = (&args.cert, &args.key, &args.ca) else {
            bail!("--cert, --key and --ca are needed (or --insecure-http)");
        };
        if args.generate_cert && !cert.exists() && !key.exists() {
            generate_identity(&args.cluster_id, cert, key)?;
            writeln!(
                err,
                "tierwall adapter: wrote a self-signed client certificate for {} to {}",
                args.cluster_id,
                cert.display()
            )?;
        }
        let cert_pem = read(cert, "the client certificate")?;
        (
            ManagerAuth::Certificate {
                cert_pem: cert_pem.clone(),
                key_pem: read(key, "the client key")?,
            },
            TlsTrust::CaPem(read(ca, "the manager's CA")?),
            Some(cert_pem),
        )
    };
    let manager = ClusterControlPlaneClient::new(&args.manager, &args.cluster_id, &auth, &trust)?;
    let controller =
        ControllerClient::with_identity(&args.controller, args.controller_identity.as_deref())?;
    let options = AdapterOptions {
        resync_interval: Duration::from_millis(args.resync_ms.max(50)),
        stats_interval: Duration::from_secs(args.stats_interval.max(1)),
        heartbeat_interval: Duration::from_secs(args.heartbeat_interval.max(1)),
        ..AdapterOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        if args.register
            && let Some(cert_pem) = &cert_pem
        {
            let password = admin_password()?;
            let outcome = manager
                .register(cert_pem, ("admin", &password))
                .await
                .with_context(|| format!("registering cluster {}", args.cluster_id))?;
            let what = match outcome {
                Registration::Registered => "registered",
                Registration::AlreadyRegistered => "already registered",
            };
            writeln!(err, "tierwall adapter: cluster {} {what}", args.cluster_id)?;
        }
        writeln!(
            err,
            "tierwall adapter: cluster {} between {} and {}",
            args.cluster_id, args.manager, args.controller
        )?;
        err.flush()?;
        let cluster = args.cluster_id.clone();
        let log = Arc::new(move |line: &str| {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "tierwall adapter {cluster}: {line}");
        });
        Adapter::new(manager, controller, options, log)
            .run(stop_signal())
            .await;
        writeln!(err, "tierwall adapter: stopped")?;
        anyhow::Ok(0)
    })
}

async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
