//! The Nodes' agents of a testbed, fed over the Node stream wherever they run: as their own
//! `tierwall agent` processes (`controller --testbed`, the default), started elsewhere
//! (`--agents external`: only their identities are issued here), or as tasks of this process
//! (the demo, `scenario run --dataplane`, `trace --live`, `--agents in-process`). Either way the
//! agent is the same code (`tierwall_node::node_agent`), reads its rule set from the stream with
//! an identity issued by the controller's CA, and stops when its Node leaves.
//!
//! ```text
//!  controller CA ──issue──> <pki>/nodes/<node>/{tls.crt, tls.key, ca.crt}
//!  Processes: tierwall agent --node N --controller https://127.0.0.1:PORT --identity DIR
//!                            --netns <node netns> --np-log <log dir>/N/np.log
//!  Tasks:     node_agent::run_observed(same options, quiet) on this process's agent runtime
//!             ──> AgentHandles (np.log flush, DNS snooper) for the lab
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tierwall_controller::node_stream::{NodeStreamServer, server_tls};
use tierwall_controller::pki::CertificateAuthority;
use tierwall_controller::rule_set_index::RuleSetIndex;
use tierwall_node::node_agent::{AgentHandles, AgentOptions};
use tokio::sync::watch;

/// Where the agents run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// One `tierwall agent` process per Node, started from this binary (`agent` subcommand).
    Processes { exe: PathBuf },
    /// Started elsewhere; only the identities are issued.
    External,
    /// Tasks of this process.
    Tasks,
}

/// How the agents are started.
#[derive(Debug, Clone)]
pub struct AgentLaunch {
    /// The stream's address, `https://127.0.0.1:PORT`.
    pub controller_url: String,
    /// The CA directory; identities go to `<pki>/nodes/<node>/`.
    pub pki: PathBuf,
    pub placement: Placement,
}

/// An agent running as a task here.
struct TaskAgent {
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<Result<(), String>>,
    handles: AgentHandles,
}

/// The agents of a testbed's Nodes.
pub struct NodeAgents {
    launch: AgentLaunch,
    ca: CertificateAuthority,
    children: BTreeMap<String, Child>,
    tasks: BTreeMap<String, TaskAgent>,
    /// The runtime of the task agents (`Placement::Tasks` only).
    runtime: Option<tokio::runtime::Runtime>,
}

impl NodeAgents {
    pub fn new(launch: AgentLaunch) -> Result<NodeAgents, String> {
        let ca = CertificateAuthority::open_or_create(&launch.pki).map_err(|e| e.to_string())?;
        let runtime = match launch.placement {
            Placement::Tasks => Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("node-agents")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("the agents' runtime: {e}"))?,
            ),
            _ => None,
        };
        Ok(NodeAgents {
            launch,
            ca,
            children: BTreeMap::new(),
            tasks: BTreeMap::new(),
            runtime,
        })
    }

    /// Where Node `node`'s identity is written.
    pub fn identity_dir(&self, node: &str) -> PathBuf {
        self.launch.pki.join("nodes").join(node)
    }

    /// Issues the Node's identity and, unless agents are external, starts its agent (writing
    /// np.log to `np_log` when given). Returns a line saying what was done.
    pub fn start(
        &mut self,
        node: &str,
        netns: &str,
        np_log: Option<&Path>,
    ) -> Result<String, String> {
        let np_log_line = np_log.map_or_else(
            || "no np.log".to_string(),
            |p| format!("np.log in {}", p.display()),
        );
        let dir = self.identity_dir(node);
        self.ca
            .write_node_identity(node, &dir)
            .map_err(|e| format!("identity of {node}: {e}"))?;
        self.stop(node);
        match &self.launch.placement {
            Placement::External => Ok(format!(
                "Node {node}: identity in {}, agent expected from elsewhere",
                dir.display()
            )),
            Placement::Processes { exe } => {
                let child = Command::new(exe)
                    .arg("agent")
                    .args(["--node", node])
                    .args(["--controller", &self.launch.controller_url])
                    .arg("--identity")
                    .arg(&dir)
                    .args(["--netns", netns])
                    .args(
                        np_log
                            .map(|p| ["--np-log".as_ref(), p.as_os_str()])
                            .into_iter()
                            .flatten(),
                    )
                    .stdin(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("starting the agent of {node}: {}: {e}", exe.display()))?;
                let pid = child.id();
                self.children.insert(node.to_string(), child);
                Ok(format!("Node {node}: agent process {pid}, {np_log_line}"))
            }
            Placement::Tasks => {
                let options = AgentOptions {
                    node: node.to_string(),
                    controller: self.launch.controller_url.clone(),
                    identity_dir: dir,
                    netns: Some(netns.to_string()),
                    np_log: np_log.map(Path::to_path_buf),
                    backoff: Duration::from_millis(20),
                    max_backoff: Duration::from_secs(1),
                    fqdn_cache: Default::default(),
                    quiet: true,
                };
                let runtime = self
                    .runtime
                    .as_ref()
                    .ok_or_else(|| "no runtime for task agents".to_string())?;
                let (stop, stopped) = watch::channel(false);
                let (ready, handles) = std::sync::mpsc::channel();
                let done = runtime.spawn(tierwall_node::node_agent::run_observed(
                    options,
                    stopped,
                    move |h| {
                        let _ = ready.send(h);
                    },
                ));
                let handles = match handles.recv_timeout(Duration::from_secs(10)) {
                    Ok(h) => h,
                    Err(_) => {
                        let why = if done.is_finished() {
                            runtime
                                .block_on(done)
                                .map_err(|e| e.to_string())
                                .and_then(|r| r)
                                .err()
                                .unwrap_or_default()
                        } else {
                            done.abort();
                            "it did not start within 10 s".into()
                        };
                        return Err(format!("starting the agent of {node}: {why}"));
                    }
                };
                self.tasks.insert(
                    node.to_string(),
                    TaskAgent {
                        stop,
                        done,
                        handles,
                    },
                );
                Ok(format!("Node {node}: agent task, {np_log_line}"))
            }
        }
    }

    /// Stops the agent of a Node (its table stays as it is).
    pub fn stop(&mut self, node: &str) {
        if let Some(mut child) = self.children.remove(node) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(task) = self.tasks.remove(node) {
            let _ = task.stop.send(true);
            if let Some(runtime) = &self.runtime {
                let _ = runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(5), task.done).await
                });
            }
        }
    }

    /// The handles of a Node's task agent.
    pub fn handles(&self, node: &str) -> Option<&AgentHandles> {
        self.tasks.get(node).map(|t| &t.handles)
    }

    /// The handles of every task agent, by Node.
    pub fn all_handles(&self) -> impl Iterator<Item = (&str, &AgentHandles)> {
        self.tasks.iter().map(|(n, t)| (n.as_str(), &t.handles))
    }

    /// The Nodes with a running agent started here.
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = self.children.keys().cloned().collect();
        nodes.extend(self.tasks.keys().cloned());
        nodes.sort();
        nodes
    }
}

impl Drop for NodeAgents {
    fn drop(&mut self) {
        for node in self.nodes() {
            self.stop(&node);
        }
    }
}

/// The controller's side of the Node stream: the CA in `pki` (created when missing), a fresh
/// index, and the stream server on `listen` with a server certificate for the loopback names
/// and `server_names`.
pub fn start_stream(
    pki: &Path,
    listen: std::net::SocketAddr,
    server_names: &[String],
) -> Result<(NodeStreamServer, Arc<RuleSetIndex>), String> {
    let ca = CertificateAuthority::open_or_create(pki).map_err(|e| e.to_string())?;
    let tls = server_tls(&ca, server_names).map_err(|e| e.to_string())?;
    let index = Arc::new(RuleSetIndex::default());
    let server =
        NodeStreamServer::start(Arc::clone(&index), tls, listen).map_err(|e| e.to_string())?;
    Ok((server, index))
}

/// A Node stream on loopback with the CA in `pki`, and agents as tasks of this process fed by
/// it: what the lab runs in-process (`LiveCluster`, `program_once`).
pub fn task_agents_on_loopback(
    pki: &Path,
) -> Result<(NodeStreamServer, Arc<RuleSetIndex>, NodeAgents), String> {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let (stream, index) = start_stream(pki, loopback, &[])?;
    let agents = NodeAgents::new(AgentLaunch {
        controller_url: format!("https://{}", stream.local_addr()),
        pki: pki.to_path_buf(),
        placement: Placement::Tasks,
    })?;
    Ok((stream, index, agents))
}
