//! The plan of a testbed, computed from a [`Cluster`] without touching the system: netns and
//! interface names, addresses, routes, served ports. It is also what the state file records.

use crate::error::TestbedError;
use crate::options::{ServedPort, TestbedOptions};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use tierwall_engine::cluster::{Cluster, L4Protocol, NodeInfo, PodInfo};

/// Name of a Node's (and an external's) interface on the fabric, and of a Pod's interface.
pub const UPLINK: &str = "eth0";
/// The bridge in the fabric netns.
pub const BRIDGE: &str = "br0";
/// The link-local next hop of every Pod (answered by proxy ARP on the Node side, as Calico does).
pub const POD_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// Bits of the conntrack mark (and packet mark) that hold the return-path Node (see
/// [`crate::services`]).
pub const RETURN_MARK_MASK: u32 = 0x00ff_0000;
/// First routing table of the return-path tables (`RETURN_TABLE_BASE + node index`).
pub const RETURN_TABLE_BASE: u32 = 1000;

/// Ports served by one probe helper, per protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServePorts {
    pub tcp: BTreeSet<u16>,
    pub udp: BTreeSet<u16>,
    pub sctp: BTreeSet<u16>,
}

impl ServePorts {
    /// Adds a port (port 0 is ignored).
    pub fn add(&mut self, protocol: L4Protocol, port: u16) {
        if port == 0 {
            return;
        }
        match protocol {
            L4Protocol::Tcp => self.tcp.insert(port),
            L4Protocol::Udp => self.udp.insert(port),
            L4Protocol::Sctp => self.sctp.insert(port),
        };
    }

    pub fn is_empty(&self) -> bool {
        self.tcp.is_empty() && self.udp.is_empty() && self.sctp.is_empty()
    }

    /// The ports of `self` that `other` does not serve.
    pub fn without(&self, other: &ServePorts) -> ServePorts {
        ServePorts {
            tcp: self.tcp.difference(&other.tcp).copied().collect(),
            udp: self.udp.difference(&other.udp).copied().collect(),
            sctp: self.sctp.difference(&other.sctp).copied().collect(),
        }
    }

    /// Every port of `self` and `other`.
    pub fn union(&self, other: &ServePorts) -> ServePorts {
        ServePorts {
            tcp: self.tcp.union(&other.tcp).copied().collect(),
            udp: self.udp.union(&other.udp).copied().collect(),
            sctp: self.sctp.union(&other.sctp).copied().collect(),
        }
    }

    /// `--tcp 80,81 --udp 80 --sctp 80` (empty protocols omitted).
    pub fn helper_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (flag, ports) in [
            ("--tcp", &self.tcp),
            ("--udp", &self.udp),
            ("--sctp", &self.sctp),
        ] {
            if !ports.is_empty() {
                out.push(flag.to_string());
                out.push(join(ports.iter()));
            }
        }
        out
    }

    fn from_list(ports: &[ServedPort]) -> Self {
        let mut s = ServePorts::default();
        for (proto, port) in ports {
            s.add(*proto, *port);
        }
        s
    }
}

fn join<T: ToString>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// One Node: a netns on the fabric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLayout {
    pub name: String,
    pub netns: String,
    /// Position in name order when the testbed was built (0-based; a Node added later takes the
    /// lowest free one); return-path mark `(index + 1) << 16`, fabric port `n<index>`.
    pub index: usize,
    /// The Node IP (its first address) on `eth0`.
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The Node's other IPv4 addresses (gateway, transport), as /32 on `eth0`.
    pub extra_ips: Vec<Ipv4Addr>,
    /// The Node's port on the fabric bridge (in the fabric netns).
    pub fabric_port: String,
    /// MAC address of the Node's `eth0`.
    pub mac: String,
    /// Ports served in the Node netns (node ports and hostNetwork Pods' ports).
    pub serve: ServePorts,
}

impl NodeLayout {
    /// All IPv4 addresses of the Node.
    pub fn ips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        std::iter::once(self.ip).chain(self.extra_ips.iter().copied())
    }

    pub fn return_mark(&self) -> u32 {
        ((self.index as u32) + 1) << 16
    }

    pub fn return_table(&self) -> u32 {
        RETURN_TABLE_BASE + self.index as u32
    }
}

/// One Pod: its own netns (or its Node's for hostNetwork Pods).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodLayout {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub ip: Ipv4Addr,
    pub host_network: bool,
    /// The Pod's netns (the Node's netns for a hostNetwork Pod).
    pub netns: String,
    /// The Node-side interface of the Pod's veth (`None` for hostNetwork Pods).
    pub veth_on_node: Option<String>,
    /// Ports the Pod serves (for hostNetwork Pods the Node's probe helper serves them).
    pub serve: ServePorts,
}

impl PodLayout {
    pub fn key(&self) -> String {
        pod_key(&self.namespace, &self.name)
    }
}

/// One external address: a netns on the fabric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalLayout {
    pub name: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub netns: String,
    pub fabric_port: String,
    pub mac: String,
    pub serve: ServePorts,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub prefix: String,
    pub fabric_netns: String,
    /// By Node name.
    pub nodes: BTreeMap<String, NodeLayout>,
    /// By `namespace/name`.
    pub pods: BTreeMap<String, PodLayout>,
    /// By external name.
    pub externals: BTreeMap<String, ExternalLayout>,
    /// Ports every Node serves besides its hostNetwork Pods' (a Node added later serves them too).
    #[serde(default)]
    pub node_serve: ServePorts,
    /// What was left out and why (Pods without an address, SCTP ports without kernel support).
    pub notes: Vec<String>,
}

/// `namespace/name`.
pub fn pod_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn v4(ip: IpAddr, what: &str) -> Result<Ipv4Addr, TestbedError> {
    match ip {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(a) => Err(TestbedError::Unsupported(format!(
            "{what} has IPv6 address {a} (the testbed models IPv4 only)"
        ))),
    }
}

fn short_hash(text: &str, hex_len: usize) -> String {
    let digest = Sha1::digest(text.as_bytes());
    let mut s: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(hex_len);
    s
}

/// Allocates unique netns names `<prefix>-<parts>`, sanitised, at most 200 characters.
struct NetnsNames {
    prefix: String,
    used: HashSet<String>,
}

impl NetnsNames {
    fn new(prefix: &str) -> Self {
        NetnsNames {
            prefix: prefix.to_string(),
            used: HashSet::new(),
        }
    }

    fn alloc(&mut self, raw: &str) -> String {
        let clean: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut name = format!("{}-{}", self.prefix, clean);
        if name.len() > 200 {
            name.truncate(190);
            name.push('-');
            name.push_str(&short_hash(raw, 8));
        }
        let mut salt = 0u32;
        while self.used.contains(&name) {
            salt += 1;
            name = format!(
                "{}-{}-{}",
                self.prefix,
                clean.chars().take(180).collect::<String>(),
                short_hash(&format!("{raw}#{salt}"), 6)
            );
        }
        self.used.insert(name.clone());
        name
    }
}

/// Node-side veth name of a Pod: `tw` + 11 hex digits of SHA-1(`namespace/name`) (13 characters;
/// Linux allows 15). Stable across testbeds, so rules rendered for one cluster fit any testbed of it.
pub fn pod_veth_name(namespace: &str, name: &str) -> String {
    format!("tw{}", short_hash(&pod_key(namespace, name), 11))
}

fn mac(kind: u8, index: usize) -> String {
    format!(
        "02:74:77:{kind:02x}:{:02x}:{:02x}",
        (index >> 8) & 0xff,
        index & 0xff
    )
}

/// The name and address book of a plan: netns names, Pod veth names per Node and the owner of
/// every address, so that what is planned next (at build time or into a running testbed)
/// collides with nothing planned before.
pub(crate) struct Planner {
    names: NetnsNames,
    /// `(node, veth)` pairs in use.
    veths: HashSet<(String, String)>,
    owner_of_ip: BTreeMap<Ipv4Addr, String>,
    has_sctp: bool,
}

impl Planner {
    fn new(prefix: &str, has_sctp: bool) -> Self {
        Planner {
            names: NetnsNames::new(prefix),
            veths: HashSet::new(),
            owner_of_ip: BTreeMap::new(),
            has_sctp,
        }
    }

    /// A planner that knows every name and address of `layout`.
    pub(crate) fn for_layout(layout: &Layout, has_sctp: bool) -> Self {
        let mut p = Planner::new(&layout.prefix, has_sctp);
        for ns in layout.namespaces() {
            p.names.used.insert(ns);
        }
        for n in layout.nodes.values() {
            for ip in n.ips() {
                p.owner_of_ip.insert(ip, format!("Node {}", n.name));
            }
        }
        for pod in layout.pods.values().filter(|p| !p.host_network) {
            p.owner_of_ip.insert(pod.ip, format!("Pod {}", pod.key()));
            if let Some(v) = &pod.veth_on_node {
                p.veths.insert((pod.node.clone(), v.clone()));
            }
        }
        for e in layout.externals.values() {
            p.owner_of_ip.insert(e.ip, format!("external {}", e.name));
        }
        p
    }

    fn claim(&mut self, ip: Ipv4Addr, who: String) -> Result<(), TestbedError> {
        if let Some(other) = self.owner_of_ip.get(&ip) {
            return Err(TestbedError::Unsupported(format!(
                "address {ip} belongs to both {other} and {who}"
            )));
        }
        self.owner_of_ip.insert(ip, who);
        Ok(())
    }

    fn serve(&self, mut serve: ServePorts) -> ServePorts {
        if !self.has_sctp {
            serve.sctp.clear();
        }
        serve
    }

    /// Plans a Node with position `index`, its first address configured as `/prefix_len`;
    /// notes what is left out (IPv6 extra addresses).
    pub(crate) fn node(
        &mut self,
        node: &NodeInfo,
        index: usize,
        prefix_len: u8,
        serve: &ServePorts,
        notes: &mut Vec<String>,
    ) -> Result<NodeLayout, TestbedError> {
        if index >= MAX_NODES {
            return Err(TestbedError::Unsupported(format!(
                "Node {}: at most {MAX_NODES} Nodes",
                node.name
            )));
        }
        let ip = node_first_ip(node)?;
        let mut extra_ips = Vec::new();
        for extra in node.ips.iter().skip(1) {
            match extra {
                IpAddr::V4(a) => extra_ips.push(*a),
                IpAddr::V6(a) => notes.push(format!(
                    "Node {}: IPv6 address {a} not configured (IPv4 only)",
                    node.name
                )),
            }
        }
        for a in std::iter::once(ip).chain(extra_ips.iter().copied()) {
            self.claim(a, format!("Node {}", node.name))?;
        }
        Ok(NodeLayout {
            name: node.name.clone(),
            netns: self.names.alloc(&node.name),
            index,
            ip,
            prefix_len,
            extra_ips,
            fabric_port: format!("n{index}"),
            mac: mac(0, index),
            serve: self.serve(serve.clone()),
        })
    }

    /// Plans a Pod on `node`; `Ok(None)` for a Pod without address (not built).
    pub(crate) fn pod(
        &mut self,
        pod: &PodInfo,
        node: &NodeLayout,
    ) -> Result<Option<PodLayout>, TestbedError> {
        let key = pod_key(&pod.namespace, &pod.name);
        let mut serve = ServePorts::default();
        for p in &pod.ports {
            serve.add(p.protocol, p.port);
        }
        let serve = self.serve(serve);
        if pod.host_network {
            return Ok(Some(PodLayout {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                node: node.name.clone(),
                ip: node.ip,
                host_network: true,
                netns: node.netns.clone(),
                veth_on_node: None,
                serve,
            }));
        }
        let Some(ip) = pod.ip else {
            return Ok(None);
        };
        let ip = v4(ip, &format!("Pod {key}"))?;
        self.claim(ip, format!("Pod {key}"))?;
        let mut veth = pod_veth_name(&pod.namespace, &pod.name);
        let mut salt = 0;
        while !self.veths.insert((node.name.clone(), veth.clone())) {
            salt += 1;
            veth = format!("tw{}", short_hash(&format!("{key}#{salt}"), 11));
        }
        Ok(Some(PodLayout {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            node: node.name.clone(),
            ip,
            host_network: false,
            netns: self.names.alloc(&format!("{}-{}", pod.namespace, pod.name)),
            veth_on_node: Some(veth),
            serve,
        }))
    }
}

/// At most this many Nodes (the return-path mark holds `index + 1` in 8 bits).
pub const MAX_NODES: usize = 250;

/// The Node's first address, which must be IPv4.
pub(crate) fn node_first_ip(node: &NodeInfo) -> Result<Ipv4Addr, TestbedError> {
    let first =
        node.ips.first().copied().ok_or_else(|| {
            TestbedError::Unsupported(format!("Node {} has no address", node.name))
        })?;
    v4(first, &format!("Node {}", node.name))
}

/// Plans the testbed of `cluster`. `has_sctp` says whether SCTP ports are served.
pub fn plan(
    cluster: &Cluster,
    options: &TestbedOptions,
    prefix: &str,
    has_sctp: bool,
) -> Result<Layout, TestbedError> {
    let mut planner = Planner::new(prefix, has_sctp);
    let fabric_netns = planner.names.alloc("fabric");
    let mut notes = Vec::new();
    if cluster.nodes.len() > MAX_NODES {
        return Err(TestbedError::Unsupported(format!(
            "{} Nodes (at most {MAX_NODES})",
            cluster.nodes.len()
        )));
    }

    // Nodes.
    let mut first_ips = Vec::new();
    for node in cluster.nodes.values() {
        first_ips.push(node_first_ip(node)?);
    }
    let prefix_len = match options.node_cidr {
        Some(cidr) if first_ips.iter().all(|ip| cidr.contains(ip)) => cidr.prefix_len(),
        _ => 16,
    };
    let node_serve = ServePorts::from_list(&options.node_ports);
    let mut nodes = BTreeMap::new();
    for (index, node) in cluster.nodes.values().enumerate() {
        let n = planner.node(node, index, prefix_len, &node_serve, &mut notes)?;
        nodes.insert(node.name.clone(), n);
    }

    // Pods.
    let mut pods = BTreeMap::new();
    for pod in cluster.pods.values() {
        let key = pod_key(&pod.namespace, &pod.name);
        let Some(node) = nodes.get_mut(&pod.node) else {
            return Err(TestbedError::Unsupported(format!(
                "Pod {key} runs on Node {:?}, which is not in the cluster",
                pod.node
            )));
        };
        match planner.pod(pod, node)? {
            Some(p) => {
                if p.host_network {
                    // The Node's probe helper serves its hostNetwork Pods' ports.
                    for port in &pod.ports {
                        node.serve.add(port.protocol, port.port);
                    }
                    node.serve = planner.serve(std::mem::take(&mut node.serve));
                }
                pods.insert(key, p);
            }
            None => notes.push(format!("Pod {key}: no IP address, not built")),
        }
    }

    // Externals.
    let mut externals = BTreeMap::new();
    for (index, (name, ip)) in options.externals.iter().enumerate() {
        let ip = v4(*ip, &format!("external {name}"))?;
        planner.claim(ip, format!("external {name}"))?;
        if externals.contains_key(name) {
            return Err(TestbedError::InvalidOption(format!(
                "external {name:?} given twice"
            )));
        }
        let in_node_subnet = nodes.values().any(|n| {
            ipnet::Ipv4Net::new(n.ip, prefix_len).is_ok_and(|net| net.trunc().contains(&ip))
        });
        externals.insert(
            name.clone(),
            ExternalLayout {
                name: name.clone(),
                ip,
                prefix_len: if in_node_subnet { prefix_len } else { 32 },
                netns: planner.names.alloc(&format!("ext-{name}")),
                fabric_port: format!("e{index}"),
                mac: mac(1, index),
                serve: planner.serve(ServePorts::from_list(&options.external_ports)),
            },
        );
    }

    let sctp_declared = options
        .node_ports
        .iter()
        .chain(&options.external_ports)
        .any(|(p, _)| *p == L4Protocol::Sctp)
        || cluster
            .pods
            .values()
            .filter(|p| pods.contains_key(&pod_key(&p.namespace, &p.name)))
            .flat_map(|p| &p.ports)
            .any(|p| p.protocol == L4Protocol::Sctp);
    let dropped_sctp = !has_sctp && sctp_declared;
    if dropped_sctp {
        notes.push("SCTP not supported by the kernel: SCTP ports are not served".into());
    }
    Ok(Layout {
        prefix: prefix.to_string(),
        fabric_netns,
        node_serve: planner.serve(node_serve),
        nodes,
        pods,
        externals,
        notes,
    })
}

impl Layout {
    /// Every netns of the testbed, fabric first.
    pub fn namespaces(&self) -> Vec<String> {
        let mut out = vec![self.fabric_netns.clone()];
        out.extend(self.nodes.values().map(|n| n.netns.clone()));
        out.extend(
            self.pods
                .values()
                .filter(|p| !p.host_network)
                .map(|p| p.netns.clone()),
        );
        out.extend(self.externals.values().map(|e| e.netns.clone()));
        out
    }

    /// Pods built in their own netns, on `node`.
    pub fn local_pods<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a PodLayout> + 'a {
        self.pods
            .values()
            .filter(move |p| p.node == node && !p.host_network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_engine::cluster::{NamedPort, NodeInfo, PodInfo};

    fn node(name: &str, ip: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            labels: Default::default(),
            ips: vec![ip.parse().unwrap()],
        }
    }

    fn pod(ns: &str, name: &str, node: &str, ip: Option<&str>, host: bool) -> PodInfo {
        PodInfo {
            namespace: ns.into(),
            name: name.into(),
            labels: Default::default(),
            ip: ip.map(|i| i.parse().unwrap()),
            node: node.into(),
            service_account: "default".into(),
            host_network: host,
            ports: vec![
                NamedPort {
                    name: None,
                    port: 80,
                    protocol: L4Protocol::Tcp,
                },
                NamedPort {
                    name: None,
                    port: 80,
                    protocol: L4Protocol::Sctp,
                },
            ],
        }
    }

    fn cluster() -> Cluster {
        let mut c = Cluster::default();
        for (n, ip) in [("node-0", "172.18.0.2"), ("node-1", "172.18.0.3")] {
            c.nodes.insert(n.into(), node(n, ip));
        }
        for p in [
            pod("x", "a", "node-0", Some("10.10.1.11"), false),
            pod("x", "b", "node-1", Some("10.10.1.12"), false),
            pod("x", "h", "node-1", Some("172.18.0.3"), true),
            pod("x", "pending", "node-1", None, false),
        ] {
            c.pods.insert(p.key(), p);
        }
        c
    }

    #[test]
    fn plans_names_addresses_and_routes() {
        let options = TestbedOptions::with_externals(vec![(
            "ext-1".into(),
            "192.168.100.7".parse().unwrap(),
        )]);
        let l = plan(&cluster(), &options, "tw0001", false).unwrap();
        assert_eq!(l.fabric_netns, "tw0001-fabric");
        assert_eq!(l.nodes["node-0"].netns, "tw0001-node-0");
        assert_eq!(l.pods["x/a"].netns, "tw0001-x-a");
        assert_eq!(l.pods["x/h"].netns, "tw0001-node-1");
        assert_eq!(l.pods["x/h"].ip, "172.18.0.3".parse::<Ipv4Addr>().unwrap());
        assert!(l.pods["x/h"].veth_on_node.is_none());
        assert!(!l.pods.contains_key("x/pending"));
        assert!(l.notes.iter().any(|n| n.contains("x/pending")));
        assert!(l.notes.iter().any(|n| n.contains("SCTP")));
        assert!(l.pods["x/a"].serve.sctp.is_empty());
        // hostNetwork Pod ports are served by the Node's probe helper.
        assert!(l.nodes["node-1"].serve.tcp.contains(&80));
        let veth = l.pods["x/a"].veth_on_node.clone().unwrap();
        assert!(veth.len() <= 15 && veth.starts_with("tw"));
        assert_eq!(veth, pod_veth_name("x", "a"));

        let n0 = l.node_commands(&l.nodes["node-0"]);
        assert!(n0.contains(&"addr add 172.18.0.2/16 dev eth0".to_string()));
        assert!(n0.contains(&format!(
            "route add 10.10.1.11/32 dev {veth} src 172.18.0.2"
        )));
        assert!(n0.contains(
            &"route add 10.10.1.12/32 via 172.18.0.3 dev eth0 onlink src 172.18.0.2".into()
        ));
        assert!(n0.contains(&"rule add fwmark 0x20000/0xff0000 lookup 1001 pref 1001".into()));
        let ext = &l.externals["ext-1"];
        assert_eq!(ext.netns, "tw0001-ext-ext-1");
        assert_eq!(ext.prefix_len, 32);
        let e = l.external_commands(ext);
        assert!(e.contains(&"route add 10.10.1.11/32 via 172.18.0.2 dev eth0 onlink".into()));
        assert_eq!(l.namespaces().len(), 1 + 2 + 2 + 1);
    }

    #[test]
    fn rejects_what_it_cannot_model() {
        let mut c = cluster();
        c.pods.get_mut(&("x".into(), "b".into())).unwrap().ip = Some("10.10.1.11".parse().unwrap());
        assert!(matches!(
            plan(&c, &TestbedOptions::default(), "tw", true),
            Err(TestbedError::Unsupported(_))
        ));
        let mut c = cluster();
        c.pods.get_mut(&("x".into(), "b".into())).unwrap().node = "node-9".into();
        assert!(plan(&c, &TestbedOptions::default(), "tw", true).is_err());
        let mut c = cluster();
        c.pods.get_mut(&("x".into(), "b".into())).unwrap().ip = Some("fd00::1".parse().unwrap());
        assert!(plan(&c, &TestbedOptions::default(), "tw", true).is_err());
    }

    #[test]
    fn node_cidr_sets_the_prefix_when_all_nodes_fit() {
        let mut o = TestbedOptions {
            node_cidr: Some("172.18.0.0/24".parse().unwrap()),
            ..Default::default()
        };
        let l = plan(&cluster(), &o, "tw", true).unwrap();
        assert_eq!(l.nodes["node-0"].prefix_len, 24);
        o.node_cidr = Some("10.0.0.0/8".parse().unwrap());
        let l = plan(&cluster(), &o, "tw", true).unwrap();
        assert_eq!(l.nodes["node-0"].prefix_len, 16);
    }

    #[test]
    fn netns_names_are_unique() {
        let mut n = NetnsNames::new("tw");
        let a = n.alloc("node-0");
        let b = n.alloc("node-0");
        assert_ne!(a, b);
        assert_eq!(n.alloc("a/b c"), "tw-a_b_c");
        assert!(n.alloc(&"x".repeat(300)).len() <= 200);
    }
}
