//! `tierwall controller --manifests DIR [--testbed PREFIX] [--listen 127.0.0.1:PORT]`: the
//! long-running controller of one cluster. The watched directory is the desired state; every
//! change goes through admission, reaches the Nodes' agents (the testbed's agents with
//! `--testbed`; with `--pki DIR` and no testbed, agents started elsewhere over the Node stream,
//! as on a real cluster; none in engine-only mode) and shows in the HTTP API.
//!
//! ```text
//!  DIR (*.yaml, *.yml, *.json, polled every 200 ms) ──ManifestDirSource──> ClusterState
//!     ──admission, per-Node rule sets──> agents (--testbed) ──> status
//!  http://127.0.0.1:PORT  GET /objects /status /inventory /stats, PUT/DELETE /objects/...
//!  stderr: one line per change (applied / rejected / deleted / delete refused)
//!  SIGINT, SIGTERM: stop (the Nodes stay programmed)
//! ```
//!
//! See `tierwall_controller::api` for the API and `tierwall_lab::controller_dataplane` for
//! what `--testbed` adds (inventory from the testbed, np.log files, objects.json kept current,
//! the testbed following the Pods and Nodes of DIR: built, moved, removed; agents and np.log
//! writers of new Nodes started, of removed Nodes stopped).

use anyhow::{Context, bail};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tierwall_controller::cluster_state::ClusterState;
use tierwall_controller::daemon::{Daemon, DaemonOptions, block_stop_signals};
use tierwall_controller::dataplane::{Dataplane, NoDataplane};
use tierwall_controller::external_agents::ExternalAgents;
use tierwall_controller::manifest_dir::ManifestDirSource;
use tierwall_controller::pki::CertificateAuthority;
use tierwall_lab::controller_dataplane::TestbedDataplane;
use tierwall_lab::controller_record::{self, ControllerRecord};
use tierwall_lab::node_agents::{AgentLaunch, Placement, start_stream};

/// How long a changed file must stay unchanged before it is read (unless the API wrote it).
const SETTLE: Duration = Duration::from_millis(100);

/// Options of `tierwall controller`.
#[derive(Debug, Clone, clap::Args)]
pub struct ControllerArgs {
    /// The watched directory of manifests (recursively: *.yaml, *.yml, *.json): the cluster's
    /// desired state. API writes land here as files.
    #[arg(long, value_name = "DIR")]
    pub manifests: PathBuf,
    /// Enforce on a testbed built by `tierwall testbed up` (needs root): its Nodes, Pods,
    /// Namespaces and Services are the inventory; policies, Tiers and groups come from DIR, and
    /// Pods and Nodes in DIR are added to (or changed in) the testbed.
    #[arg(long, value_name = "PREFIX")]
    pub testbed: Option<String>,
    /// Address of the HTTP API (port 0 picks a free port). On loopback: plain HTTP. Beyond
    /// loopback: HTTPS, and every client needs a certificate from the controller's CA (--pki;
    /// `tierwall controller` writes an admin identity to `<pki>/clients/admin`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9190")]
    pub listen: SocketAddr,
    /// With --testbed: directory of the np.log files (`<dir>/<node>/np.log`); default: the
    /// testbed's data directory.
    #[arg(long, value_name = "DIR", requires = "testbed")]
    pub log_dir: Option<PathBuf>,
    /// How often DIR is polled, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub poll_ms: u64,
    /// With --testbed: where the Nodes' agents run, all fed over the Node stream. `processes`:
    /// one `tierwall agent` process per Node, started and stopped by the controller;
    /// `external`: started elsewhere (identities in `<pki>/nodes/<node>/`); `in-process`: the
    /// same agents as tasks of the controller's process.
    #[arg(long, value_enum, default_value = "processes", requires = "testbed")]
    pub agents: AgentPlacement,
    /// Address of the Node stream (HTTP/2, mutual TLS; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub node_stream: SocketAddr,
    /// The controller's CA directory (ca.crt, ca.key, server, Node and API client identities);
    /// default: `pki` in the testbed's data directory. Without --testbed it turns the Node
    /// stream on for agents started elsewhere (`tierwall agent --identity DIR/nodes/NODE`):
    /// every Node of the manifests gets an identity there.
    #[arg(long, value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// Extra names (DNS names or IP addresses) of the stream's server certificate, for agents
    /// that reach the controller by another name than localhost.
    #[arg(long = "san", value_name = "NAME")]
    pub server_names: Vec<String>,
}

/// Where the Nodes' agents run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentPlacement {
    Processes,
    External,
    InProcess,
}

/// Runs the controller until SIGINT or SIGTERM. Prints the API's URL on `out` (one line), logs
/// on `err`.
pub fn run(args: &ControllerArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let pki_dir = args.pki.clone().or_else(|| {
        args.testbed
            .as_ref()
            .map(|prefix| tierwall_testbed::state::data_dir(prefix).join("pki"))
    });
    let api_tls = !args.listen.ip().is_loopback();
    if api_tls && pki_dir.is_none() {
        bail!(
            "--listen {}: beyond loopback the API requires client certificates from the \
             controller's CA; give --pki DIR (the CA is created there, an admin identity in \
             DIR/clients/admin)",
            args.listen
        );
    }
    // The one server certificate of the Node stream and the API: loopback names and the API's
    // address when it is a specific one.
    let mut server_names: Vec<String> = if api_tls && !args.listen.ip().is_unspecified() {
        vec![args.listen.ip().to_string()]
    } else {
        Vec::new()
    };
    server_names.extend(args.server_names.iter().cloned());
    if !args.manifests.is_dir() {
        bail!("--manifests {}: not a directory", args.manifests.display());
    }
    // Before any thread starts, so that every thread has them blocked.
    let signals = block_stop_signals().context("blocking SIGINT and SIGTERM")?;
    let mut stream = None;
    let dataplane: Box<dyn Dataplane> = match &args.testbed {
        Some(prefix) => {
            tierwall_testbed::options::validate_prefix(prefix)?;
            let pki = tierwall_testbed::state::data_dir(prefix).join("pki");
            let pki = pki_dir.clone().unwrap_or(pki);
            raise_open_file_limit();
            let (server, index) = start_stream(&pki, args.node_stream, &server_names)
                .map_err(anyhow::Error::msg)
                .context("starting the Node stream")?;
            let placement = match args.agents {
                AgentPlacement::Processes => Placement::Processes {
                    exe: std::env::current_exe().context("finding the tierwall binary")?,
                },
                AgentPlacement::External => Placement::External,
                AgentPlacement::InProcess => Placement::Tasks,
            };
            let launch = AgentLaunch {
                controller_url: format!("https://{}", server.local_addr()),
                pki,
                placement,
            };
            writeln!(
                err,
                "tierwall controller: Node stream on {} (CA in {})",
                launch.controller_url,
                launch.pki.display()
            )?;
            stream = Some(server);
            Box::new(
                TestbedDataplane::attach(prefix, args.log_dir.clone(), launch, index)
                    .with_context(|| format!("attaching to testbed {prefix}"))?,
            )
        }
        None => match &args.pki {
            Some(pki) => {
                raise_open_file_limit();
                let (server, index) = start_stream(pki, args.node_stream, &server_names)
                    .map_err(anyhow::Error::msg)
                    .context("starting the Node stream")?;
                writeln!(
                    err,
                    "tierwall controller: Node stream on https://{} (CA and Node identities in {})",
                    server.local_addr(),
                    pki.display()
                )?;
                stream = Some(server);
                let ca = CertificateAuthority::open_or_create(pki)?;
                Box::new(ExternalAgents::new(index, ca))
            }
            None => Box::new(NoDataplane),
        },
    };
    let source = ManifestDirSource::new(&args.manifests, SETTLE)
        .with_field_locator(crate::input::locate_field);
    let state =
        ClusterState::start(dataplane, Box::new(source)).context("starting the controller")?;
    let (source, dataplane) = (state.describe_source(), state.describe_dataplane());
    let api_tls = match (&pki_dir, api_tls) {
        (Some(pki), true) => Some(api_tls_config(pki, &server_names)?),
        _ => None,
    };
    let scheme = if api_tls.is_some() { "https" } else { "http" };
    let daemon = Daemon::start(
        state,
        &DaemonOptions {
            poll_interval: Duration::from_millis(args.poll_ms.max(10)),
            listen: Some(args.listen),
            api_tls,
        },
    )?;
    signals.forward_to(daemon.stop_handle());
    let addr = daemon.api_addr().unwrap_or(args.listen);
    writeln!(out, "{scheme}://{addr}")?;
    out.flush()?;
    writeln!(
        err,
        "tierwall controller: watching {source}; {dataplane}; API on {scheme}://{addr}"
    )?;
    if let (Some(pki), "https") = (&pki_dir, scheme) {
        writeln!(
            err,
            "tierwall controller: the API requires a client certificate from the CA in {0}; an \
             admin identity is in {0}/clients/admin (tls.crt, tls.key, ca.crt)",
            pki.display()
        )?;
    }
    // `apply`/`delete --testbed` go through this controller while it runs.
    if let Some(prefix) = &args.testbed {
        let record = ControllerRecord {
            pid: std::process::id(),
            api: format!("{scheme}://{addr}"),
            manifests: args
                .manifests
                .canonicalize()
                .unwrap_or_else(|_| args.manifests.clone()),
            client_identity: pki_dir
                .as_ref()
                .filter(|_| scheme == "https")
                .map(|pki| pki.join("clients").join("admin")),
        };
        if let Err(e) = controller_record::save(prefix, &record) {
            writeln!(
                err,
                "tierwall controller: warning: {e}; `apply --testbed {prefix}` will not find this controller"
            )?;
        }
    }
    let reason = daemon.run(err);
    if let Some(prefix) = &args.testbed {
        controller_record::remove(prefix, std::process::id());
    }
    if let Some(server) = stream {
        server.stop();
    }
    writeln!(err, "tierwall controller: stopped ({reason})")?;
    Ok(0)
}

/// The API's TLS configuration (client certificates from the CA required), and the admin
/// client identity in `<pki>/clients/admin` when there is none yet.
fn api_tls_config(
    pki: &std::path::Path,
    server_names: &[String],
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let ca = CertificateAuthority::open_or_create(pki)?;
    let admin = pki.join("clients").join("admin");
    if !admin.join("tls.crt").exists() {
        ca.write_client_identity("admin", &admin)
            .with_context(|| format!("writing the admin identity to {}", admin.display()))?;
    }
    Ok(tierwall_controller::node_stream::server_tls(
        &ca,
        server_names,
    )?)
}

/// Raises the soft limit of open files to the hard one: the stream holds one connection per
/// Node.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
