//! Changing a running testbed so that it follows its cluster: Pods added, deleted, moved to
//! another Node, re-addressed or given other ports, Nodes added, deleted or re-addressed. Labels
//! (of Pods, Nodes, Namespaces) are no testbed matter: they only change rule sets.
//!
//! ```text
//!  plan_changes(cluster) ── diff of Layout and Cluster ──> TestbedChanges (nothing touched yet)
//!  apply_changes:  1. Pods removed   servers killed, Node-side veth deleted (both ends go),
//!                                    netns deleted, routes on other Nodes and externals deleted
//!                  2. Nodes removed  processes killed, fabric port deleted, netns deleted,
//!                                    return-path table and rule deleted on the other Nodes
//!                  3. Nodes added    netns, fabric port, addresses, routes to every Pod, return
//!                                    paths both ways, servers on the Node ports
//!                  4. Pods added     netns, veth, /32 address and routes, proxy ARP, routes on
//!                                    other Nodes and externals, servers on the declared ports
//!                  5. Services re-rendered on every Node, state file written
//! ```
//!
//! A changed Pod or Node is removed and added again (the same netns and veth names come back).
//! Each step writes the state file before it creates something, so a failure part-way leaves
//! nothing [`crate::Testbed::down`] does not find. A hostNetwork Pod added later gets a server
//! in its Node's netns for the ports the Node does not serve yet; removing it stops that server
//! (ports served since the testbed was built keep being served).

use crate::build::ServerWanted;
use crate::exec::{self, Job};
use crate::layout::{self, Layout, NodeLayout, Planner, PodLayout, ServePorts};
use crate::{Testbed, TestbedError, state};
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tierwall_engine::cluster::{Cluster, NodeInfo, PodInfo};

/// How long removed processes get to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`Testbed::apply_changes`] does, as planned by [`Testbed::plan_changes`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestbedChanges {
    /// Pods (`namespace/name`) to remove: deleted, changed, or on a Node that is removed.
    pub pods_removed: Vec<String>,
    /// Nodes to remove: deleted or re-addressed.
    pub nodes_removed: Vec<String>,
    /// Nodes to add (new or re-addressed), as they will be built.
    pub nodes_added: Vec<NodeLayout>,
    /// Pods to add (new or changed), as they will be built.
    pub pods_added: Vec<PodLayout>,
    /// Pods of the cluster that are not built, and why (no address, Node not in the testbed).
    pub not_built: Vec<String>,
}

impl TestbedChanges {
    /// Whether nothing is added or removed.
    pub fn is_empty(&self) -> bool {
        self.pods_removed.is_empty()
            && self.nodes_removed.is_empty()
            && self.nodes_added.is_empty()
            && self.pods_added.is_empty()
    }
}

/// Whether the Node is built with the addresses the cluster gives it.
fn same_node(built: &NodeLayout, node: &NodeInfo) -> bool {
    let Ok(first) = layout::node_first_ip(node) else {
        return false;
    };
    let extra: Vec<_> = node
        .ips
        .iter()
        .skip(1)
        .filter_map(|ip| match ip {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .collect();
    built.ip == first && built.extra_ips == extra
}

/// Whether the Pod is built as the cluster describes it (Node, address, hostNetwork, ports).
fn same_pod(built: &PodLayout, pod: &PodInfo, has_sctp: bool) -> bool {
    let mut serve = ServePorts::default();
    for p in &pod.ports {
        serve.add(p.protocol, p.port);
    }
    if !has_sctp {
        serve.sctp.clear();
    }
    built.node == pod.node
        && built.host_network == pod.host_network
        && (pod.host_network || pod.ip == Some(IpAddr::V4(built.ip)))
        && built.serve == serve
}

impl Testbed {
    /// What it takes to make the testbed match `cluster` (nothing is changed yet).
    pub fn plan_changes(&self, cluster: &Cluster) -> Result<TestbedChanges, TestbedError> {
        let has_sctp = self.state.has_sctp;
        let current = &self.state.layout;
        let mut changes = TestbedChanges::default();
        for n in current.nodes.values() {
            if !cluster.nodes.get(&n.name).is_some_and(|c| same_node(n, c)) {
                changes.nodes_removed.push(n.name.clone());
            }
        }
        for p in current.pods.values() {
            let keep = !changes.nodes_removed.contains(&p.node)
                && cluster
                    .pod(&p.namespace, &p.name)
                    .is_some_and(|c| same_pod(p, c, has_sctp));
            if !keep {
                changes.pods_removed.push(p.key());
            }
        }
        let mut next = current.clone();
        for key in &changes.pods_removed {
            next.pods.remove(key);
        }
        for name in &changes.nodes_removed {
            next.nodes.remove(name);
        }
        let mut planner = Planner::for_layout(&next, has_sctp);
        let prefix_len = current.nodes.values().next().map_or(16, |n| n.prefix_len);
        let mut notes = Vec::new();
        for node in cluster.nodes.values() {
            if next.nodes.contains_key(&node.name) {
                continue;
            }
            let index = (0..)
                .find(|i| !next.nodes.values().any(|n| n.index == *i))
                .unwrap_or(usize::MAX);
            let planned = planner.node(node, index, prefix_len, &current.node_serve, &mut notes)?;
            next.nodes.insert(node.name.clone(), planned.clone());
            changes.nodes_added.push(planned);
        }
        for pod in cluster.pods.values() {
            let key = layout::pod_key(&pod.namespace, &pod.name);
            if next.pods.contains_key(&key) {
                continue;
            }
            let Some(node) = next.nodes.get(&pod.node) else {
                changes.not_built.push(format!(
                    "Pod {key}: Node {:?} is not in the testbed",
                    pod.node
                ));
                continue;
            };
            match planner.pod(pod, node)? {
                Some(planned) => {
                    next.pods.insert(key, planned.clone());
                    changes.pods_added.push(planned);
                }
                None => changes
                    .not_built
                    .push(format!("Pod {key}: no IP address, not built")),
            }
        }
        changes.not_built.extend(notes);
        Ok(changes)
    }

    /// Carries out `changes` (planned by [`Testbed::plan_changes`] on this testbed as it is
    /// now), then re-renders the Services of every Node from `cluster`.
    pub fn apply_changes(
        &mut self,
        changes: &TestbedChanges,
        cluster: &Cluster,
    ) -> Result<(), TestbedError> {
        if changes.is_empty() {
            return Ok(());
        }
        for key in &changes.pods_removed {
            self.remove_pod(key)?;
        }
        for name in &changes.nodes_removed {
            self.remove_node(name)?;
        }
        for node in &changes.nodes_added {
            self.add_node(node)?;
        }
        for pod in &changes.pods_added {
            self.add_pod(pod)?;
        }
        self.update_services(cluster)?;
        state::write(&self.state)
    }

    /// [`Testbed::plan_changes`] then [`Testbed::apply_changes`]; what was done.
    pub fn reconcile(&mut self, cluster: &Cluster) -> Result<TestbedChanges, TestbedError> {
        let changes = self.plan_changes(cluster)?;
        self.apply_changes(&changes, cluster)?;
        Ok(changes)
    }

    /// Kills processes and waits (bounded) until they are gone; reaps our own children.
    fn stop_processes(&mut self, pids: &[i32]) {
        for &pid in pids {
            exec::kill(pid);
        }
        let wanted: HashSet<u32> = pids.iter().filter_map(|p| u32::try_from(*p).ok()).collect();
        let mut kept = Vec::new();
        for mut child in self.children.drain(..) {
            if wanted.contains(&child.id()) {
                let _ = child.kill();
                let _ = child.wait();
            } else {
                kept.push(child);
            }
        }
        self.children = kept;
        let deadline = Instant::now() + EXIT_TIMEOUT;
        for &pid in pids {
            while std::path::Path::new(&format!("/proc/{pid}")).exists()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// PIDs of every process in `netns`.
    fn processes_in(netns: &str) -> Vec<i32> {
        let inodes: HashSet<u64> = exec::netns_inode(netns).into_iter().collect();
        if inodes.is_empty() {
            Vec::new()
        } else {
            exec::pids_in(&inodes)
        }
    }

    fn delete_netns(netns: &str) -> Result<(), TestbedError> {
        if !exec::netns_path(netns).exists() {
            return Ok(());
        }
        exec::run(Job::new(exec::ip(&["netns", "delete", netns]))).map(drop)
    }

    fn create_netns(netns: &str) -> Result<(), TestbedError> {
        let _lock = state::lock()?;
        exec::run(Job::new(exec::ip(&["netns", "add", netns]))).map(drop)
    }

    fn sysctl(&self, netns: &str, settings: Vec<String>) -> Job {
        Job::new(exec::probe_helper(
            netns,
            &self.state.probe_helper,
            "sysctl",
            &settings,
        ))
    }

    fn remove_pod(&mut self, key: &str) -> Result<(), TestbedError> {
        let Some(pod) = self.state.layout.pods.get(key).cloned() else {
            return Ok(());
        };
        let pids: Vec<i32> = if pod.host_network {
            self.state
                .servers
                .iter()
                .filter(|s| s.pod.as_deref() == Some(key))
                .filter_map(|s| i32::try_from(s.pid).ok())
                .collect()
        } else {
            Testbed::processes_in(&pod.netns)
        };
        self.stop_processes(&pids);
        let owner = self.state.layout.nodes.get(&pod.node).cloned();
        if !pod.host_network {
            if let (Some(owner), Some(veth)) = (&owner, &pod.veth_on_node) {
                // Deleting one end deletes both, now (the netns itself may outlive its last
                // process for a moment).
                exec::run(Job::new(exec::in_netns(
                    &owner.netns,
                    "ip",
                    &["link", "del", veth.as_str()],
                )))?;
            }
            Testbed::delete_netns(&pod.netns)?;
        }
        let layout = &mut self.state.layout;
        layout.pods.remove(key);
        self.state.servers.retain(|s| {
            s.pod.as_deref() != Some(key) && (pod.host_network || s.netns != pod.netns)
        });
        state::write(&self.state)?;
        let (Some(owner), false) = (owner, pod.host_network) else {
            return Ok(());
        };
        let layout = &self.state.layout;
        let mut jobs = Vec::new();
        for other in layout.nodes.values().filter(|n| n.name != owner.name) {
            jobs.push(exec::ip_batch(
                &other.netns,
                &[Layout::remote_pod_route("del", other, &owner, &pod)],
            ));
        }
        for e in layout.externals.values() {
            jobs.push(exec::ip_batch(
                &e.netns,
                &[Layout::external_pod_route("del", &owner, &pod)],
            ));
        }
        exec::run_all(jobs).map(drop)
    }

    fn remove_node(&mut self, name: &str) -> Result<(), TestbedError> {
        let Some(node) = self.state.layout.nodes.get(name).cloned() else {
            return Ok(());
        };
        let pids = Testbed::processes_in(&node.netns);
        self.stop_processes(&pids);
        let fabric = self.state.layout.fabric_netns.clone();
        exec::run(Job::new(exec::in_netns(
            &fabric,
            "ip",
            &["link", "del", node.fabric_port.as_str()],
        )))?;
        Testbed::delete_netns(&node.netns)?;
        let layout = &mut self.state.layout;
        layout.nodes.remove(name);
        layout.pods.retain(|_, p| p.node != name);
        self.state.servers.retain(|s| s.netns != node.netns);
        state::write(&self.state)?;
        let jobs = self
            .state
            .layout
            .nodes
            .values()
            .map(|other| exec::ip_batch(&other.netns, &Layout::return_path_commands("del", &node)))
            .collect();
        exec::run_all(jobs).map(drop)
    }

    fn add_node(&mut self, node: &NodeLayout) -> Result<(), TestbedError> {
        self.state
            .layout
            .nodes
            .insert(node.name.clone(), node.clone());
        state::write(&self.state)?;
        Testbed::create_netns(&node.netns)?;
        exec::run(self.sysctl(&node.netns, Layout::base_sysctls(true)))?;
        let layout = &self.state.layout;
        exec::run(exec::ip_batch(
            &layout.fabric_netns,
            &Layout::fabric_port_commands(&node.fabric_port, &node.mac, &node.netns),
        ))?;
        let mut jobs = vec![exec::ip_batch(&node.netns, &layout.node_commands(node))];
        for other in layout.nodes.values().filter(|o| o.name != node.name) {
            jobs.push(exec::ip_batch(
                &other.netns,
                &Layout::return_path_commands("add", node),
            ));
        }
        exec::run_all(jobs)?;
        self.spawn_servers(vec![ServerWanted::new(&node.netns, &node.serve, None)])?;
        self.start_cluster_dns(std::slice::from_ref(node))
    }

    fn add_pod(&mut self, pod: &PodLayout) -> Result<(), TestbedError> {
        let key = pod.key();
        let owner = self
            .state
            .layout
            .nodes
            .get(&pod.node)
            .cloned()
            .ok_or_else(|| self.unknown("Node", pod.node.clone()))?;
        self.state.layout.pods.insert(key.clone(), pod.clone());
        state::write(&self.state)?;
        if pod.host_network {
            let mut served = owner.serve.clone();
            for s in self.state.servers.iter().filter(|s| s.netns == owner.netns) {
                served = served.union(&s.serve);
            }
            let extra = pod.serve.without(&served);
            return self.spawn_servers(vec![ServerWanted::new(&owner.netns, &extra, Some(key))]);
        }
        Testbed::create_netns(&pod.netns)?;
        exec::run(self.sysctl(&pod.netns, Layout::base_sysctls(false)))?;
        let layout = &self.state.layout;
        exec::run(exec::ip_batch(
            &owner.netns,
            &Layout::pod_link_commands(&owner, pod),
        ))?;
        let mut jobs = vec![
            exec::ip_batch(&pod.netns, &layout.pod_commands(pod)),
            self.sysctl(&owner.netns, Layout::pod_link_sysctls(pod)),
        ];
        for other in layout.nodes.values().filter(|n| n.name != owner.name) {
            jobs.push(exec::ip_batch(
                &other.netns,
                &[Layout::remote_pod_route("add", other, &owner, pod)],
            ));
        }
        for e in layout.externals.values() {
            jobs.push(exec::ip_batch(
                &e.netns,
                &[Layout::external_pod_route("add", &owner, pod)],
            ));
        }
        exec::run_all(jobs)?;
        self.spawn_servers(vec![ServerWanted::new(&pod.netns, &pod.serve, None)])
    }
}
