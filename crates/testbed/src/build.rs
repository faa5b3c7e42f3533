//! Building a testbed: choosing and reserving a prefix, creating the namespaces, links,
//! addresses, routes, Service tables, and starting the servers, in that order.

use crate::exec::{self, Job};
use crate::layout::{self, Layout};
use crate::options::{self, ProbeHelperCommand, TestbedOptions};
use crate::state::{self, ServerRecord, State};
use crate::{Testbed, TestbedError};
use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;
use tierwall_engine::cluster::Cluster;

/// How long servers get to bind their ports.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

fn random_prefix() -> String {
    let mut bytes = [0u8; 2];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !ok {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mix = nanos ^ std::process::id().rotate_left(16);
        bytes = [(mix >> 8) as u8, mix as u8];
    }
    format!("tw{:02x}{:02x}", bytes[0], bytes[1])
}

fn prefix_in_use(prefix: &str) -> bool {
    let dash = format!("{prefix}-");
    exec::netns_list().iter().any(|n| n.starts_with(&dash)) || state::state_path(prefix).exists()
}

fn detect_sctp(fabric_netns: &str, helper: &ProbeHelperCommand) -> bool {
    if exec::on_path("modprobe") {
        let mut c = std::process::Command::new("modprobe");
        c.arg("sctp");
        let _ = exec::run(Job::new(c));
    }
    exec::run(Job::new(exec::probe_helper(
        fabric_netns,
        helper,
        "sctp-check",
        &[],
    )))
    .map(|out| out.trim() == "yes")
    .unwrap_or(false)
}

impl Testbed {
    /// Builds the testbed of `cluster`. On error everything created so far is removed.
    pub fn up(cluster: &Cluster, options: TestbedOptions) -> Result<Testbed, TestbedError> {
        for tool in ["ip", "nft"] {
            if !exec::on_path(tool) {
                return Err(TestbedError::Command {
                    command: tool.into(),
                    message: "not found on PATH (apt-get install iproute2 nftables)".into(),
                });
            }
        }
        if options.probe_timeout.is_zero() {
            return Err(TestbedError::InvalidOption("probe_timeout is zero".into()));
        }
        let helper = match &options.probe_helper {
            Some(a) => a.clone(),
            None => ProbeHelperCommand::locate()?,
        };
        let timeout_ms = u64::try_from(options.probe_timeout.as_millis()).unwrap_or(60_000);

        // Choose a prefix and reserve it with the state file.
        let state = {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let prefix = match &options.prefix {
                    Some(p) => {
                        options::validate_prefix(p)?;
                        p.clone()
                    }
                    None => random_prefix(),
                };
                let explicit = options.prefix.is_some();
                if prefix_in_use(&prefix) {
                    if explicit || attempt > 50 {
                        return Err(TestbedError::InvalidOption(format!(
                            "prefix {prefix} is in use"
                        )));
                    }
                    continue;
                }
                let layout = layout::plan(cluster, &options, &prefix, true)?;
                let mut state = State::new(layout, helper.clone(), false, timeout_ms);
                state.backend_choice = options.backend_choice;
                if state::reserve(&state)? {
                    break state;
                }
                if explicit || attempt > 50 {
                    return Err(TestbedError::InvalidOption(format!(
                        "prefix {prefix} is in use"
                    )));
                }
            }
        };
        let mut tb = Testbed {
            state,
            children: Vec::new(),
            armed: true,
        };
        // From here on, an early return drops `tb`, which tears down what was built.
        tb.build(cluster, &options)?;
        Ok(tb)
    }

    fn build(&mut self, cluster: &Cluster, options: &TestbedOptions) -> Result<(), TestbedError> {
        let prefix = self.state.layout.prefix.clone();
        let helper = self.state.probe_helper.clone();
        let fabric = self.state.layout.fabric_netns.clone();
        {
            let _lock = state::lock()?;
            exec::run(Job::new(exec::ip(&["netns", "add", &fabric])))?;
        }
        let has_sctp = detect_sctp(&fabric, &helper);
        if !has_sctp {
            self.state.layout = layout::plan(cluster, options, &prefix, false)?;
        }
        self.state.has_sctp = has_sctp;
        state::write(&self.state)?;
        let layout = self.state.layout.clone();

        // 1. Namespaces.
        {
            let _lock = state::lock()?;
            for ns in layout.namespaces().iter().skip(1) {
                exec::run(Job::new(exec::ip(&["netns", "add", ns])))?;
            }
        }
        // 2. Base sysctls, before any interface exists.
        let mut jobs = vec![Job::new(exec::probe_helper(
            &fabric,
            &helper,
            "sysctl",
            &Layout::base_sysctls(false),
        ))];
        for n in layout.nodes.values() {
            jobs.push(Job::new(exec::probe_helper(
                &n.netns,
                &helper,
                "sysctl",
                &Layout::base_sysctls(true),
            )));
        }
        for ns in layout
            .pods
            .values()
            .filter(|p| !p.host_network)
            .map(|p| &p.netns)
            .chain(layout.externals.values().map(|e| &e.netns))
        {
            jobs.push(Job::new(exec::probe_helper(
                ns,
                &helper,
                "sysctl",
                &Layout::base_sysctls(false),
            )));
        }
        exec::run_all(jobs)?;
        // 3. Fabric and uplinks; 4. Nodes and Pod veths; 5. Pods and externals.
        exec::run(exec::ip_batch(&fabric, &layout.fabric_commands()))?;
        exec::run_all(
            layout
                .nodes
                .values()
                .map(|n| exec::ip_batch(&n.netns, &layout.node_commands(n)))
                .collect(),
        )?;
        let mut jobs: Vec<Job> = layout
            .pods
            .values()
            .filter(|p| !p.host_network)
            .map(|p| exec::ip_batch(&p.netns, &layout.pod_commands(p)))
            .collect();
        jobs.extend(
            layout
                .externals
                .values()
                .map(|e| exec::ip_batch(&e.netns, &layout.external_commands(e))),
        );
        // 6. Proxy ARP on the Pod veths; 7. Services.
        for n in layout.nodes.values() {
            let sysctls = layout.node_link_sysctls(n);
            if !sysctls.is_empty() {
                jobs.push(Job::new(exec::probe_helper(
                    &n.netns, &helper, "sysctl", &sysctls,
                )));
            }
        }
        jobs.extend(self.service_jobs(cluster));
        exec::run_all(jobs)?;
        // 8. Servers; 9. cluster DNS in every Node.
        self.start_servers(&layout)?;
        self.write_dns_zone(cluster)?;
        let nodes: Vec<_> = layout.nodes.values().cloned().collect();
        self.start_cluster_dns(&nodes)?;
        self.state.complete = true;
        state::write(&self.state)
    }

    fn start_servers(&mut self, layout: &Layout) -> Result<(), TestbedError> {
        let mut wanted = Vec::new();
        for n in layout.nodes.values() {
            wanted.push(ServerWanted::new(&n.netns, &n.serve, None));
        }
        for p in layout.pods.values().filter(|p| !p.host_network) {
            wanted.push(ServerWanted::new(&p.netns, &p.serve, None));
        }
        for e in layout.externals.values() {
            wanted.push(ServerWanted::new(&e.netns, &e.serve, None));
        }
        self.spawn_servers(wanted)
    }

    /// Starts `tierwall-probe-helper serve` for each entry (empty port sets are skipped),
    /// records them, and waits until every one has bound its ports.
    pub(crate) fn spawn_servers(&mut self, wanted: Vec<ServerWanted>) -> Result<(), TestbedError> {
        let prefix = self.state.layout.prefix.clone();
        let helper = self.state.probe_helper.clone();
        let (tx, rx) = mpsc::channel();
        let mut expected = 0;
        for w in wanted {
            if w.serve.is_empty() {
                continue;
            }
            let netns = w.netns.as_str();
            let mut args = vec!["--testbed".to_string(), prefix.clone()];
            args.extend(w.serve.helper_args());
            let log = state::open_log(&prefix)?;
            let mut cmd = exec::probe_helper(netns, &helper, "serve", &args);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(log));
            // Own process group: a Ctrl-C at the terminal of `tierwall testbed up` does not
            // reach the servers.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let mut child = cmd.spawn().map_err(|e| TestbedError::Command {
                command: format!("ip netns exec {netns} {} serve", helper.program.display()),
                message: format!("cannot start: {e}"),
            })?;
            let stdout = child.stdout.take();
            self.state.servers.push(ServerRecord {
                netns: netns.to_string(),
                pid: child.id(),
                pod: w.pod.clone(),
                serve: w.serve.clone(),
            });
            self.children.push(child);
            let tx = tx.clone();
            let netns = netns.to_string();
            expected += 1;
            std::thread::spawn(move || {
                let mut line = String::new();
                if let Some(out) = stdout {
                    let _ = std::io::BufReader::new(out).read_line(&mut line);
                }
                let _ = tx.send((netns, line));
            });
        }
        state::write(&self.state)?;
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        for _ in 0..expected {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let (netns, line) = rx
                .recv_timeout(left)
                .map_err(|_| TestbedError::ProbeHelper {
                    netns: "(servers)".into(),
                    message: format!("servers not ready within {READY_TIMEOUT:?}"),
                })?;
            if line.trim() != "ready" {
                let message = if line.trim().is_empty() {
                    format!(
                        "server exited before it was ready (see {})",
                        state::log_path(&prefix).display()
                    )
                } else {
                    line.trim().to_string()
                };
                return Err(TestbedError::ProbeHelper { netns, message });
            }
        }
        Ok(())
    }
}

/// A server to start: where, which ports, and for which hostNetwork Pod (if it serves one
/// added to a running testbed).
pub(crate) struct ServerWanted {
    pub netns: String,
    pub serve: layout::ServePorts,
    pub pod: Option<String>,
}

impl ServerWanted {
    pub fn new(netns: &str, serve: &layout::ServePorts, pod: Option<String>) -> Self {
        ServerWanted {
            netns: netns.to_string(),
            serve: serve.clone(),
            pod,
        }
    }
}
