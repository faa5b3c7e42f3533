//! Node agents as their own processes: `tierwall controller --testbed` starts one
//! `tierwall agent` per Node of the testbed (in the Node's network namespace, with an identity
//! issued by the controller's CA) and stops them when it stops or the Node leaves. With
//! `--external-agents` it only issues the identities (`<pki>/nodes/<node>/`) and expects the
//! agents to be started elsewhere.
//!
//! ```text
//!  controller CA ──issue──> <pki>/nodes/<node>/{tls.crt, tls.key, ca.crt}
//!  spawn: tierwall agent --node N --controller https://127.0.0.1:PORT --identity DIR
//!                        --netns <node netns> --np-log <log dir>/N/np.log
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tierwall_controller::pki::CertificateAuthority;

/// How agent processes are started.
#[derive(Debug, Clone)]
pub struct AgentLaunch {
    /// The `tierwall` binary (`agent` subcommand).
    pub exe: PathBuf,
    /// The stream's address, `https://127.0.0.1:PORT`.
    pub controller_url: String,
    /// The CA directory; identities go to `<pki>/nodes/<node>/`.
    pub pki: PathBuf,
    /// Start the agents (`false`: they are started elsewhere).
    pub spawn: bool,
}

/// The agent processes of a testbed.
pub struct AgentProcesses {
    launch: AgentLaunch,
    ca: CertificateAuthority,
    children: BTreeMap<String, Child>,
}

impl AgentProcesses {
    pub fn new(launch: AgentLaunch) -> Result<AgentProcesses, String> {
        let ca = CertificateAuthority::open_or_create(&launch.pki).map_err(|e| e.to_string())?;
        Ok(AgentProcesses {
            launch,
            ca,
            children: BTreeMap::new(),
        })
    }

    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// Where Node `node`'s identity is written.
    pub fn identity_dir(&self, node: &str) -> PathBuf {
        self.launch.pki.join("nodes").join(node)
    }

    /// Issues the Node's identity and, unless agents are external, starts its agent.
    pub fn start(&mut self, node: &str, netns: &str, np_log: &Path) -> Result<String, String> {
        let dir = self.identity_dir(node);
        self.ca
            .write_node_identity(node, &dir)
            .map_err(|e| format!("identity of {node}: {e}"))?;
        if !self.launch.spawn {
            return Ok(format!(
                "Node {node}: identity in {}, agent expected from elsewhere",
                dir.display()
            ));
        }
        self.stop(node);
        let child = Command::new(&self.launch.exe)
            .arg("agent")
            .args(["--node", node])
            .args(["--controller", &self.launch.controller_url])
            .arg("--identity")
            .arg(&dir)
            .args(["--netns", netns])
            .arg("--np-log")
            .arg(np_log)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "starting the agent of {node}: {}: {e}",
                    self.launch.exe.display()
                )
            })?;
        let pid = child.id();
        self.children.insert(node.to_string(), child);
        Ok(format!(
            "Node {node}: agent process {pid}, np.log in {}",
            np_log.display()
        ))
    }

    /// Stops the agent of a Node (its table stays as it is).
    pub fn stop(&mut self, node: &str) {
        if let Some(mut child) = self.children.remove(node) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The Nodes with a running agent started here.
    pub fn nodes(&self) -> Vec<String> {
        self.children.keys().cloned().collect()
    }
}

impl Drop for AgentProcesses {
    fn drop(&mut self) {
        for node in self.nodes() {
            self.stop(&node);
        }
    }
}
