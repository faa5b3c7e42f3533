//! `tierwall manager`: serve the NSX-style manager (`tierwall_manager`), and move its state in
//! and out as JSON.
//!
//! ```text
//!  tierwall manager --listen 127.0.0.1:8443 --data DIR [--insecure-http]
//!                   [--tls-cert PEM --tls-key PEM] [--client-ca PEM]
//!  tierwall manager export --data DIR [-o FILE] [--wait SECONDS]
//!  tierwall manager import --data DIR FILE [--wait SECONDS]
//! ```
//!
//! The user `admin` (enterprise_admin) has the password in `TIERWALL_ADMIN_PASSWORD`; with
//! `TIERWALL_AUDITOR_PASSWORD` set there is also a read-only user `auditor`. On SIGINT or
//! SIGTERM the manager drains its requests and closes its store before it exits. Export and
//! import open the store directly: while another process (a manager that is still stopping) has
//! it open they wait for it, up to `--wait` seconds, saying so on stderr.

use anyhow::Context as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tierwall_manager::auth::{Role, User};
use tierwall_manager::server::{ServerConfig, start};
use tierwall_manager::store::{RedbStore, Store, StoreError};
use tierwall_manager::tls::TlsFiles;

/// The environment variable holding the `admin` password.
pub const ADMIN_PASSWORD_ENV: &str = "TIERWALL_ADMIN_PASSWORD";
/// The environment variable holding the `auditor` password (optional).
pub const AUDITOR_PASSWORD_ENV: &str = "TIERWALL_AUDITOR_PASSWORD";

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ManagerArgs {
    #[command(subcommand)]
    pub command: Option<ManagerCommand>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Data directory (the store `manager.redb`, and the generated TLS certificate).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS (for local use and scripts).
    #[arg(long)]
    pub insecure_http: bool,
    /// PEM certificate chain of the server (default: self-signed, kept in DIR/tls).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the server.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA that signs adapter client certificates (default: each cluster's registered
    /// certificate is pinned).
    #[arg(long, value_name = "PEM")]
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ManagerCommand {
    /// Print the whole store as one JSON document.
    Export {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Write to FILE instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// How long to wait for a process that has the store open (a manager still stopping).
        #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_WAIT_SECONDS)]
        wait: u64,
    },
    /// Replace the store's contents with an export document.
    Import {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The export document (`-` for stdin).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// How long to wait for a process that has the store open (a manager still stopping).
        #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_WAIT_SECONDS)]
        wait: u64,
    },
}

/// How long export and import wait for the store by default.
pub const DEFAULT_WAIT_SECONDS: u64 = 10;

pub fn run(args: ManagerArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match args.command {
        Some(ManagerCommand::Export { data, output, wait }) => {
            let store = open_store(&data, Duration::from_secs(wait), err)?;
            let dump = store.export()?;
            let text = serde_json::to_string_pretty(&dump)? + "\n";
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => out.write_all(text.as_bytes())?,
            }
            Ok(0)
        }
        Some(ManagerCommand::Import { data, file, wait }) => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let dump: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let store = open_store(&data, Duration::from_secs(wait), err)?;
            store.import(&dump)?;
            let count = dump
                .get("objects")
                .and_then(serde_json::Value::as_object)
                .map_or(0, |o| o.len());
            writeln!(out, "imported {count} objects into {}", data.display())?;
            Ok(0)
        }
        None => serve(args, out),
    }
}

/// Opens the store in `data`, waiting up to `wait` while another process has it open (redb
/// locks the file; a manager that was just sent SIGTERM holds it until it has exited).
fn open_store(data: &Path, wait: Duration, err: &mut dyn Write) -> anyhow::Result<RedbStore> {
    let start = Instant::now();
    let mut said = false;
    loop {
        match RedbStore::open(data) {
            Err(StoreError::InUse { .. }) if start.elapsed() < wait => {
                if !said {
                    writeln!(
                        err,
                        "waiting up to {} s for the store in {}: another process has it open (a manager still stopping?)",
                        wait.as_secs(),
                        data.display()
                    )?;
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(StoreError::InUse { .. }) => anyhow::bail!(
                "the store in {} is still in use by another process after {} s: stop the manager running on it (or give --wait SECONDS)",
                data.display(),
                wait.as_secs()
            ),
            other => {
                return other.with_context(|| format!("opening the store in {}", data.display()));
            }
        }
    }
}

fn users() -> anyhow::Result<Vec<User>> {
    let admin = std::env::var(ADMIN_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .with_context(|| format!("set {ADMIN_PASSWORD_ENV} to the password of the user admin"))?;
    let mut users = vec![User {
        name: "admin".into(),
        password: admin,
        role: Role::EnterpriseAdmin,
    }];
    if let Some(p) = std::env::var(AUDITOR_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
    {
        users.push(User {
            name: "auditor".into(),
            password: p,
            role: Role::Auditor,
        });
    }
    Ok(users)
}

fn serve(args: ManagerArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let data = args
        .data
        .context("tierwall manager needs --data DIR (where the store lives)")?;
    let tls = (!args.insecure_http).then_some(TlsFiles {
        cert: args.tls_cert,
        key: args.tls_key,
        client_ca: args.client_ca,
    });
    let config = ServerConfig {
        listen: args.listen,
        data_dir: data,
        tls,
        users: users()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let code = runtime.block_on(async {
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let server = start(config).await?;
        writeln!(out, "manager listening on {scheme}://{}", server.local_addr)?;
        out.flush()?;
        wait_for_stop_signal().await;
        server.shutdown().await;
        anyhow::Ok(0)
    })?;
    // Connections still open after the drain hold the store through the router: dropping the
    // runtime drops them, and with the last handle the store closes its file before the exit.
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(code)
}

async fn wait_for_stop_signal() {
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
