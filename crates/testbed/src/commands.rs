//! What is run in each netns to build it: sysctls and `ip -batch` lines, computed from the
//! [`Layout`] (pure, so they are unit-tested without privileges).

use crate::layout::{
    BRIDGE, ExternalLayout, Layout, NodeLayout, POD_GATEWAY, PodLayout, RETURN_MARK_MASK, UPLINK,
};

impl Layout {
    /// Sysctls written in every netns right after it is created (before its interfaces exist,
    /// so `default` values reach them): no reverse-path filter, no ICMP rate limit (reject tests
    /// send bursts of ICMP errors), no IPv6, forwarding on Nodes. A leading `?` marks keys that
    /// may be absent (global on older kernels, so not visible, and never written, from a netns).
    pub fn base_sysctls(forwarding: bool) -> Vec<String> {
        let mut out = vec![
            "net.ipv4.conf.all.rp_filter=0".to_string(),
            "net.ipv4.conf.default.rp_filter=0".into(),
            "net.ipv4.icmp_ratelimit=0".into(),
            // Per netns only on recent kernels (on older ones the key is absent here).
            "?net.ipv4.icmp_msgs_per_sec=100000".into(),
            // The global ICMP credit is capped at the burst (50 by default): a batch of probes
            // meeting Reject rules would otherwise see some ICMP errors vanish.
            "?net.ipv4.icmp_msgs_burst=100000".into(),
            "?net.ipv6.conf.all.disable_ipv6=1".into(),
            "?net.ipv6.conf.default.disable_ipv6=1".into(),
            "?net.bridge.bridge-nf-call-iptables=0".into(),
            "?net.bridge.bridge-nf-call-arptables=0".into(),
        ];
        out.push(format!(
            "net.ipv4.ip_forward={}",
            if forwarding { 1 } else { 0 }
        ));
        out
    }

    /// `ip -batch` lines for the fabric netns: the bridge, and one veth per Node and external
    /// whose other end is created directly as `eth0` in that netns.
    pub fn fabric_commands(&self) -> Vec<String> {
        let mut out = vec![
            format!("link add {BRIDGE} type bridge stp_state 0 forward_delay 0"),
            format!("link set {BRIDGE} up"),
        ];
        let ends = self
            .nodes
            .values()
            .map(|n| (&n.fabric_port, &n.mac, &n.netns))
            .chain(
                self.externals
                    .values()
                    .map(|e| (&e.fabric_port, &e.mac, &e.netns)),
            );
        for (port, mac, netns) in ends {
            out.extend(Layout::fabric_port_commands(port, mac, netns));
        }
        out
    }

    /// `ip -batch` lines for the fabric netns that plug one Node or external into the bridge:
    /// a veth whose other end is created directly as `eth0` in `netns`.
    pub fn fabric_port_commands(port: &str, mac: &str, netns: &str) -> Vec<String> {
        vec![
            format!("link add {port} type veth peer name {UPLINK} address {mac} netns {netns}"),
            format!("link set {port} master {BRIDGE}"),
            format!("link set {port} up"),
        ]
    }

    /// `ip -batch` lines for a Node netns: addresses, the Pod veths (the Pod end created as
    /// `eth0` in the Pod netns), routes to local Pods, to other Nodes' Pods, the return-path
    /// routing rules.
    pub fn node_commands(&self, node: &NodeLayout) -> Vec<String> {
        let ip = node.ip;
        let mut out = vec![
            "link set lo up".to_string(),
            format!("addr add {ip}/{} dev {UPLINK}", node.prefix_len),
        ];
        for extra in &node.extra_ips {
            out.push(format!("addr add {extra}/32 dev {UPLINK}"));
        }
        out.push(format!("link set {UPLINK} up"));
        // Everything not routed more specifically is on the fabric (other Nodes, externals).
        out.push(format!("route add default dev {UPLINK} src {ip}"));
        for pod in self.local_pods(&node.name) {
            out.extend(Layout::pod_link_commands(node, pod));
        }
        for pod in self.pods.values() {
            if pod.host_network || pod.node == node.name {
                continue;
            }
            if let Some(owner) = self.nodes.get(&pod.node) {
                out.push(Layout::remote_pod_route("add", node, owner, pod));
            }
        }
        for other in self.nodes.values().filter(|o| o.name != node.name) {
            out.extend(Layout::return_path_commands("add", other));
        }
        out
    }

    /// `ip -batch` lines in a Node netns for one of its Pods: the veth (the Pod end created as
    /// `eth0` in the Pod netns) and the route to the Pod through it.
    pub fn pod_link_commands(node: &NodeLayout, pod: &PodLayout) -> Vec<String> {
        let Some(veth) = &pod.veth_on_node else {
            return Vec::new();
        };
        vec![
            format!(
                "link add {veth} type veth peer name {UPLINK} netns {}",
                pod.netns
            ),
            format!("link set {veth} up"),
            format!("route add {}/32 dev {veth} src {}", pod.ip, node.ip),
        ]
    }

    /// The `ip -batch` line (`verb` = `add` or `del`) in Node `node` for the route to a Pod of
    /// another Node, `owner`.
    pub fn remote_pod_route(
        verb: &str,
        node: &NodeLayout,
        owner: &NodeLayout,
        pod: &PodLayout,
    ) -> String {
        format!(
            "route {verb} {}/32 via {} dev {UPLINK} onlink src {}",
            pod.ip, owner.ip, node.ip
        )
    }

    /// `ip -batch` lines (`verb` = `add` or `del`) in a Node netns for the return path through
    /// Node `other`: its routing table and the rule selecting it by mark.
    pub fn return_path_commands(verb: &str, other: &NodeLayout) -> Vec<String> {
        vec![
            format!(
                "route {verb} default via {} dev {UPLINK} onlink table {}",
                other.ip,
                other.return_table()
            ),
            format!(
                "rule {verb} fwmark {:#x}/{:#x} lookup {} pref {}",
                other.return_mark(),
                RETURN_MARK_MASK,
                other.return_table(),
                other.return_table()
            ),
        ]
    }

    /// Sysctls of a Node once its Pod veths exist: proxy ARP without delay on each.
    pub fn node_link_sysctls(&self, node: &NodeLayout) -> Vec<String> {
        self.local_pods(&node.name)
            .flat_map(Layout::pod_link_sysctls)
            .collect()
    }

    /// Sysctls in the Node netns for one Pod's veth: proxy ARP without delay.
    pub fn pod_link_sysctls(pod: &PodLayout) -> Vec<String> {
        match &pod.veth_on_node {
            Some(veth) => vec![
                format!("net.ipv4.conf.{veth}.proxy_arp=1"),
                format!("net.ipv4.neigh.{veth}.proxy_delay=0"),
            ],
            None => Vec::new(),
        }
    }

    /// `ip -batch` lines for a Pod netns: `<podIP>/32` on `eth0`, default route via the
    /// link-local gateway.
    pub fn pod_commands(&self, pod: &PodLayout) -> Vec<String> {
        vec![
            "link set lo up".to_string(),
            format!("addr add {}/32 dev {UPLINK}", pod.ip),
            format!("link set {UPLINK} up"),
            format!("route add {POD_GATEWAY}/32 dev {UPLINK} scope link"),
            format!(
                "route add default via {POD_GATEWAY} dev {UPLINK} src {}",
                pod.ip
            ),
        ]
    }

    /// `ip -batch` lines for an external netns: its address on `eth0`, the fabric as default
    /// route, and Pod addresses via their Nodes.
    pub fn external_commands(&self, ext: &ExternalLayout) -> Vec<String> {
        let mut out = vec![
            "link set lo up".to_string(),
            format!("addr add {}/{} dev {UPLINK}", ext.ip, ext.prefix_len),
            format!("link set {UPLINK} up"),
            format!("route add default dev {UPLINK} src {}", ext.ip),
        ];
        for pod in self.pods.values().filter(|p| !p.host_network) {
            if let Some(owner) = self.nodes.get(&pod.node) {
                out.push(Layout::external_pod_route("add", owner, pod));
            }
        }
        out
    }

    /// The `ip -batch` line (`verb` = `add` or `del`) in an external netns for the route to a
    /// Pod via its Node `owner`.
    pub fn external_pod_route(verb: &str, owner: &NodeLayout, pod: &PodLayout) -> String {
        format!(
            "route {verb} {}/32 via {} dev {UPLINK} onlink",
            pod.ip, owner.ip
        )
    }
}
