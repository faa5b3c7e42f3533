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
//! See `tierwall_controller::api` for the API and `tierwall_live::controller_dataplane` for
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
use tierwall_controller::node_stream::NodeStreamServer;
use tierwall_controller::pki::CertificateAuthority;
use tierwall_controller::rule_set_index::RuleSetIndex;
use tierwall_live::agent_processes::AgentLaunch;
use tierwall_live::controller_dataplane::TestbedDataplane;

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
    /// Address of the HTTP API (loopback only; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9190")]
    pub listen: SocketAddr,
    /// With --testbed: directory of the np.log files (`<dir>/<node>/np.log`); default: the
    /// testbed's data directory.
    #[arg(long, value_name = "DIR", requires = "testbed")]
    pub log_dir: Option<PathBuf>,
    /// How often DIR is polled, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub poll_ms: u64,
    /// With --testbed: where the Nodes' agents run. `processes`: one `tierwall agent` process
    /// per Node, started and stopped by the controller, fed over the Node stream; `external`:
    /// the same stream, the agents are started elsewhere (identities in `<pki>/nodes/<node>/`);
    /// `in-process`: agents inside the controller (no stream).
    #[arg(long, value_enum, default_value = "processes", requires = "testbed")]
    pub agents: AgentPlacement,
    /// Address of the Node stream (HTTP/2, mutual TLS; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub node_stream: SocketAddr,
    /// The controller's CA directory (ca.crt, ca.key, server and Node identities); default:
    /// `pki` in the testbed's data directory. Without --testbed it turns the Node stream on for
    /// agents started elsewhere (`tierwall agent --identity DIR/nodes/NODE`): every Node of
    /// the manifests gets an identity there.
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
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {}: the API has no authentication, listen on a loopback address",
            args.listen
        );
    }
    if !args.manifests.is_dir() {
        bail!("--manifests {}: not a directory", args.manifests.display());
    }
    // Before any thread starts, so that every thread has them blocked.
    let signals = block_stop_signals().context("blocking SIGINT and SIGTERM")?;
    let mut stream = None;
    let dataplane: Box<dyn Dataplane> = match &args.testbed {
        Some(prefix) => {
            tierwall_testbed::options::validate_prefix(prefix)?;
            let testbed = TestbedDataplane::attach(prefix, args.log_dir.clone())
                .with_context(|| format!("attaching to testbed {prefix}"))?;
            if args.agents == AgentPlacement::InProcess {
                Box::new(testbed)
            } else {
                let pki = args
                    .pki
                    .clone()
                    .unwrap_or_else(|| tierwall_testbed::state::data_dir(prefix).join("pki"));
                let (server, index) =
                    start_node_stream(&pki, args.node_stream, &args.server_names)?;
                let launch = AgentLaunch {
                    exe: std::env::current_exe().context("finding the tierwall binary")?,
                    controller_url: format!("https://{}", server.local_addr()),
                    pki,
                    spawn: args.agents == AgentPlacement::Processes,
                };
                writeln!(
                    err,
                    "tierwall controller: Node stream on {} (CA in {})",
                    launch.controller_url,
                    launch.pki.display()
                )?;
                stream = Some(server);
                Box::new(
                    testbed
                        .with_agent_processes(launch, index)
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                )
            }
        }
        None => match &args.pki {
            Some(pki) => {
                let (server, index) = start_node_stream(pki, args.node_stream, &args.server_names)?;
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
        .with_field_locator(crate::input::locate_field_line);
    let state =
        ClusterState::start(dataplane, Box::new(source)).context("starting the controller")?;
    let (source, dataplane) = (state.describe_source(), state.describe_dataplane());
    let daemon = Daemon::start(
        state,
        &DaemonOptions {
            poll_interval: Duration::from_millis(args.poll_ms.max(10)),
            listen: Some(args.listen),
        },
    )?;
    signals.forward_to(daemon.stop_handle());
    let addr = daemon.api_addr().unwrap_or(args.listen);
    writeln!(out, "http://{addr}")?;
    out.flush()?;
    writeln!(
        err,
        "tierwall controller: watching {source}; {dataplane}; API on http://{addr}"
    )?;
    let reason = daemon.run(err);
    if let Some(server) = stream {
        server.stop();
    }
    writeln!(err, "tierwall controller: stopped ({reason})")?;
    Ok(0)
}

/// The CA, the index and the stream server of the Node stream. Raises the soft limit of open
/// files to the hard one: the stream holds one connection per Node.
fn start_node_stream(
    pki: &std::path::Path,
    listen: SocketAddr,
    server_names: &[String],
) -> anyhow::Result<(NodeStreamServer, Arc<RuleSetIndex>)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    let ca = CertificateAuthority::open_or_create(pki)?;
    let tls = tierwall_controller::node_stream::server_tls(&ca, server_names)?;
    let index = Arc::new(RuleSetIndex::default());
    let server = NodeStreamServer::start(Arc::clone(&index), tls, listen)?;
    Ok((server, index))
}
