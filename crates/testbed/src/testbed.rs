//! [`Testbed`]: the handle of a running testbed (its recorded state and the server processes it
//! started), with the queries and probes on it and its teardown on drop. Building it is in
//! `build.rs`, following a changing cluster in `runtime.rs`.

use crate::error::TestbedError;
use crate::exec::{self, Job};
use crate::layout::{ExternalLayout, Layout, NodeLayout, PodLayout};
use crate::probe::{Endpoint, Probe, ProbeResult, Transport};
use crate::state::{self, State};
use crate::{layout, probe, services, teardown};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;
use tierwall_engine::cluster::Cluster;

/// Probe helpers started at once by [`Testbed::probe_many`].
const PROBE_HELPERS_AT_ONCE: usize = 64;

/// A running testbed. From [`Testbed::up`] it is a guard (dropping it tears the testbed down);
/// from [`Testbed::attach`] it is not.
#[derive(Debug)]
pub struct Testbed {
    pub(crate) state: State,
    pub(crate) children: Vec<Child>,
    pub(crate) armed: bool,
}

impl Testbed {
    pub(crate) fn service_jobs(&self, cluster: &Cluster) -> Vec<Job> {
        let layout = &self.state.layout;
        layout
            .nodes
            .values()
            .map(|n| {
                let script = services::render(cluster, layout, n, self.state.backend_choice);
                Job::with_stdin(exec::in_netns(&n.netns, "nft", &["-f", "-"]), script)
            })
            .collect()
    }

    /// Re-renders the Services of every Node from `cluster` (Services added, changed or deleted,
    /// backends whose labels changed) and replaces each Node's `tierwall-svc` table atomically.
    /// Established connections keep their backend. Pods and Nodes are not re-planned here (see
    /// [`Testbed::reconcile`]): a Pod that is not part of the testbed is no backend.
    pub fn update_services(&self, cluster: &Cluster) -> Result<(), TestbedError> {
        self.write_dns_zone(cluster)?;
        exec::run_all(self.service_jobs(cluster)).map(drop)
    }

    /// Empties the connection-tracking table of every Node netns (where the rule sets are
    /// enforced), so the next probes meet the rules as new connections whatever earlier probes
    /// left behind.
    pub fn flush_conntrack(&self) -> Result<(), TestbedError> {
        let jobs = self
            .state
            .layout
            .nodes
            .values()
            .map(|n| {
                Job::new(exec::probe_helper(
                    &n.netns,
                    &self.state.probe_helper,
                    "conntrack-flush",
                    &[],
                ))
            })
            .collect();
        exec::run_all(jobs).map(drop)
    }

    /// The `nft -f` script of a Node's `tierwall-svc` table for `cluster` (what
    /// [`Testbed::update_services`] applies).
    pub fn render_services(&self, cluster: &Cluster, node: &str) -> Result<String, TestbedError> {
        let n = self.node(node)?;
        Ok(services::render(
            cluster,
            &self.state.layout,
            n,
            self.state.backend_choice,
        ))
    }

    /// Reloads a testbed from its state file. The returned value does not tear the testbed down
    /// when dropped; call [`Testbed::down`] for that.
    pub fn attach(prefix: &str) -> Result<Testbed, TestbedError> {
        let state = state::read(prefix)?;
        Ok(Testbed {
            state,
            children: Vec::new(),
            armed: false,
        })
    }

    /// Removes the testbed: processes, namespaces (and with them every link), state file.
    pub fn down(mut self) -> Result<(), TestbedError> {
        self.armed = false;
        teardown::teardown(
            &self.state.layout.prefix,
            &self.state.layout.namespaces(),
            &mut self.children,
        )
    }

    /// Leaves the testbed running (for a later [`Testbed::attach`] or [`down_by_prefix`]) and
    /// returns its prefix.
    pub fn detach(mut self) -> String {
        self.armed = false;
        // The servers keep running; not waiting for them is intended.
        self.children.clear();
        self.state.layout.prefix.clone()
    }

    pub fn prefix(&self) -> &str {
        &self.state.layout.prefix
    }

    /// The whole plan: names, addresses, interfaces, served ports.
    pub fn layout(&self) -> &Layout {
        &self.state.layout
    }

    /// What was left out of the cluster and why.
    pub fn notes(&self) -> &[String] {
        &self.state.layout.notes
    }

    /// Whether SCTP is served and can be probed.
    pub fn has_sctp(&self) -> bool {
        self.state.has_sctp
    }

    pub fn probe_timeout(&self) -> Duration {
        Duration::from_millis(self.state.probe_timeout_ms)
    }

    pub(crate) fn unknown(&self, kind: &'static str, name: impl Into<String>) -> TestbedError {
        TestbedError::Unknown {
            kind,
            name: name.into(),
            prefix: self.prefix().to_string(),
        }
    }

    fn node(&self, node: &str) -> Result<&NodeLayout, TestbedError> {
        self.state
            .layout
            .nodes
            .get(node)
            .ok_or_else(|| self.unknown("Node", node))
    }

    fn pod(&self, namespace: &str, name: &str) -> Result<&PodLayout, TestbedError> {
        let key = layout::pod_key(namespace, name);
        self.state
            .layout
            .pods
            .get(&key)
            .ok_or_else(|| self.unknown("Pod", key))
    }

    fn external(&self, name: &str) -> Result<&ExternalLayout, TestbedError> {
        self.state
            .layout
            .externals
            .get(name)
            .ok_or_else(|| self.unknown("external", name))
    }

    /// The netns name of a Node (`ip netns exec <name>`; path: [`Testbed::netns_path`]).
    pub fn node_netns(&self, node: &str) -> Result<&str, TestbedError> {
        Ok(&self.node(node)?.netns)
    }

    /// The netns of a Pod (its Node's for a hostNetwork Pod).
    pub fn pod_netns(&self, namespace: &str, name: &str) -> Result<&str, TestbedError> {
        Ok(&self.pod(namespace, name)?.netns)
    }

    pub fn external_netns(&self, name: &str) -> Result<&str, TestbedError> {
        Ok(&self.external(name)?.netns)
    }

    pub fn fabric_netns(&self) -> &str {
        &self.state.layout.fabric_netns
    }

    /// `/run/netns/<name>` (for `setns`, `nsenter --net=`).
    pub fn netns_path(netns: &str) -> PathBuf {
        exec::netns_path(netns)
    }

    /// The Node-side interface of a Pod's veth (for `iifname`/`oifname` matches in the Node's
    /// ruleset). hostNetwork Pods have none.
    pub fn pod_veth_on_node(&self, namespace: &str, name: &str) -> Result<&str, TestbedError> {
        self.pod(namespace, name)?
            .veth_on_node
            .as_deref()
            .ok_or_else(|| {
                self.unknown(
                    "veth (hostNetwork Pods have none) of Pod",
                    format!("{namespace}/{name}"),
                )
            })
    }

    /// The Node's interface on the fabric (`eth0`).
    pub fn node_uplink(&self, node: &str) -> Result<&'static str, TestbedError> {
        self.node(node).map(|_| layout::UPLINK)
    }

    pub fn pod_ip(&self, namespace: &str, name: &str) -> Result<Ipv4Addr, TestbedError> {
        Ok(self.pod(namespace, name)?.ip)
    }

    pub fn node_ip(&self, node: &str) -> Result<Ipv4Addr, TestbedError> {
        Ok(self.node(node)?.ip)
    }

    pub fn external_ip(&self, name: &str) -> Result<Ipv4Addr, TestbedError> {
        Ok(self.external(name)?.ip)
    }

    /// The netns a probe from `src` runs in.
    pub fn endpoint_netns(&self, src: &Endpoint) -> Result<&str, TestbedError> {
        match src {
            Endpoint::Pod { namespace, name } => self.pod_netns(namespace, name),
            Endpoint::Node(n) => self.node_netns(n),
            Endpoint::External(n) => self.external_netns(n),
        }
    }

    fn own_netns(&self, netns: &str) -> Result<(), TestbedError> {
        if self.state.layout.namespaces().iter().any(|n| n == netns) {
            Ok(())
        } else {
            Err(self.unknown("netns", netns))
        }
    }

    /// Runs `cmd` (program and arguments) inside one of this testbed's namespaces; its stdout.
    pub fn run_in_netns(&self, netns: &str, cmd: &[&str]) -> Result<String, TestbedError> {
        self.own_netns(netns)?;
        let (program, args) = cmd
            .split_first()
            .ok_or_else(|| TestbedError::InvalidOption("empty command".into()))?;
        exec::run(Job::new(exec::in_netns(netns, *program, args)))
    }

    /// Runs `cmd` inside a Node's netns; its stdout.
    pub fn run_in_node(&self, node: &str, cmd: &[&str]) -> Result<String, TestbedError> {
        let netns = self.node_netns(node)?.to_string();
        self.run_in_netns(&netns, cmd)
    }

    /// Applies an nftables JSON document (`{"nftables": [...]}`) in a Node's netns as one
    /// transaction (`nft -j -f -`).
    pub fn apply_nft_json(&self, node: &str, document: &str) -> Result<(), TestbedError> {
        let netns = self.node_netns(node)?;
        exec::run(Job::with_stdin(
            exec::in_netns(netns, "nft", &["-j", "-f", "-"]),
            document,
        ))
        .map(drop)
    }

    /// Applies an nft script (`nft -f -` syntax) in a Node's netns as one transaction.
    pub fn apply_nft_script(&self, node: &str, script: &str) -> Result<(), TestbedError> {
        let netns = self.node_netns(node)?;
        exec::run(Job::with_stdin(
            exec::in_netns(netns, "nft", &["-f", "-"]),
            script,
        ))
        .map(drop)
    }

    /// `nft -j list ruleset` of a Node's netns.
    pub fn list_ruleset_json(&self, node: &str) -> Result<serde_json::Value, TestbedError> {
        let text = self.run_in_node(node, &["nft", "-j", "list", "ruleset"])?;
        serde_json::from_str(&text).map_err(|e| TestbedError::Command {
            command: "nft -j list ruleset".into(),
            message: format!("unreadable JSON: {e}"),
        })
    }

    /// One probe from `src` to `dst`.
    pub fn probe(
        &self,
        src: &Endpoint,
        dst: IpAddr,
        transport: Transport,
    ) -> Result<ProbeResult, TestbedError> {
        let mut r = self.probe_many(&[Probe::new(src.clone(), dst, transport)])?;
        r.pop().ok_or_else(|| TestbedError::ProbeHelper {
            netns: self.endpoint_netns(src).unwrap_or("?").to_string(),
            message: "no result".into(),
        })
    }

    /// Many probes at once: one probe helper per source netns, all running concurrently, every probe on
    /// its own thread. Results are in the order of `probes`.
    pub fn probe_many(&self, probes: &[Probe]) -> Result<Vec<ProbeResult>, TestbedError> {
        // Group by source netns, remembering each probe's position.
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, p) in probes.iter().enumerate() {
            if matches!(p.transport, Transport::Sctp(_)) && !self.has_sctp() {
                return Err(TestbedError::SctpUnsupported);
            }
            groups
                .entry(self.endpoint_netns(&p.src)?)
                .or_default()
                .push(i);
        }
        let timeout = self.state.probe_timeout_ms.to_string();
        let mut jobs = Vec::new();
        let mut order = Vec::new();
        for (netns, indices) in &groups {
            let mut args = vec!["--timeout-ms".to_string(), timeout.clone()];
            for &i in indices {
                args.extend(probes[i].transport.helper_args(probes[i].dst));
            }
            jobs.push(Job::new(exec::probe_helper(
                netns,
                &self.state.probe_helper,
                "probe",
                &args,
            )));
            order.push((*netns, indices));
        }
        let mut outputs = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            outputs.extend(exec::run_all(
                jobs.by_ref().take(PROBE_HELPERS_AT_ONCE).collect(),
            )?);
        }
        let mut results: Vec<Option<ProbeResult>> = vec![None; probes.len()];
        for ((netns, indices), out) in order.into_iter().zip(outputs) {
            let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
            if lines.len() != indices.len() {
                return Err(TestbedError::ProbeHelper {
                    netns: netns.into(),
                    message: format!(
                        "{} results for {} probes: {out:?}",
                        lines.len(),
                        indices.len()
                    ),
                });
            }
            for (&i, line) in indices.iter().zip(lines) {
                let wire: probe::WireResult =
                    serde_json::from_str(line).map_err(|e| TestbedError::ProbeHelper {
                        netns: netns.into(),
                        message: format!("unreadable result {line:?}: {e}"),
                    })?;
                if wire.outcome == "Error" {
                    return Err(TestbedError::ProbeHelper {
                        netns: netns.into(),
                        message: format!(
                            "probe {} -> {} {}: {}",
                            probes[i].src, probes[i].dst, probes[i].transport, wire.detail
                        ),
                    });
                }
                results[i] = Some(wire.into_result(netns)?);
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| TestbedError::ProbeHelper {
                    netns: "?".into(),
                    message: "missing result".into(),
                })
            })
            .collect()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        if let Err(e) = teardown::teardown(
            &self.state.layout.prefix,
            &self.state.layout.namespaces(),
            &mut self.children,
        ) {
            eprintln!(
                "tierwall-testbed: teardown of {}: {e}",
                self.state.layout.prefix
            );
        }
    }
}
