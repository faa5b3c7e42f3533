//! The `ip tierwall-svc` nftables table of each Node netns: Services (ClusterIP and NodePort
//! DNAT, reject without backends) and the return-path marks that make NodePort work without SNAT.
//!
//! ```text
//!  prerouting  mangle  return-mark-prerouting  new conn. from Node j's MAC: ct mark |= (j+1)<<16
//!                                              reply from a Pod of a marked conn.: meta mark
//!  prerouting  dstnat  nat-prerouting ─┐
//!  output      -100    nat-output    ──┴─> services: ClusterIP:port / NodeIP:nodePort -> dnat
//!  output      mangle  return-mark-output      (route chain) replies of hostNetwork servers
//!  postrouting srcnat  nat-postrouting         hairpin: Pod -> its own Service -> itself: snat
//!  input/forward/output -10  no-endpoints      Service port without backend: reject
//! ```
//!
//! Return path: a NodePort connection may be DNATed on Node j to a backend on Node k; without
//! SNAT, k would answer the client directly and the client would drop the answer (it never spoke
//! to the backend's address). So k marks every new connection arriving from another Node with
//! that Node's index (recognised by the fixed MAC of its `eth0`), and a routing rule sends the
//! replies of marked connections back via that Node, whose conntrack undoes the DNAT. For
//! ordinary Pod-to-Pod traffic this is the route the reply would take anyway.

use crate::layout::{Layout, NodeLayout, RETURN_MARK_MASK, UPLINK};
use crate::options::BackendChoice;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use tierwall_engine::cluster::{Cluster, L4Protocol, ServiceInfo, ServicePortInfo};
use tierwall_model::IntOrString;

/// Name of the table (family `ip`) in every Node netns.
pub const SERVICE_TABLE: &str = "tierwall-svc";

fn proto_kw(p: L4Protocol) -> &'static str {
    match p {
        L4Protocol::Tcp => "tcp",
        L4Protocol::Udp => "udp",
        L4Protocol::Sctp => "sctp",
    }
}

/// The backend addresses of one Service port: `(ip, targetPort)`, a named targetPort resolved on
/// each backend (backends without that port are left out). Only addresses of the testbed count.
pub fn port_backends(
    cluster: &Cluster,
    layout: &Layout,
    svc: &ServiceInfo,
    port: &ServicePortInfo,
) -> Vec<(Ipv4Addr, u16)> {
    let mut out = Vec::new();
    for backend in cluster.service_backends(svc) {
        let key = crate::layout::pod_key(&backend.namespace, &backend.name);
        let Some(pod) = layout.pods.get(&key) else {
            continue;
        };
        let target = match &port.target_port {
            None => Some(port.port),
            Some(IntOrString::Int(i)) => u16::try_from(*i).ok().filter(|p| *p != 0),
            Some(IntOrString::String(name)) => backend.resolve_named_port(name, port.protocol),
        };
        if let Some(t) = target {
            out.push((pod.ip, t));
        }
    }
    out
}

fn dnat(backends: &[(Ipv4Addr, u16)], choice: BackendChoice) -> String {
    match (backends, choice) {
        ([(ip, port)], _) | ([(ip, port), ..], BackendChoice::First) => {
            format!("dnat to {ip}:{port}")
        }
        _ => {
            let elems: Vec<String> = backends
                .iter()
                .enumerate()
                .map(|(i, (ip, port))| format!("{i} : {ip} . {port}"))
                .collect();
            format!(
                "dnat to numgen random mod {} map {{ {} }}",
                backends.len(),
                elems.join(", ")
            )
        }
    }
}

/// Characters safe inside an nft comment string; at most 128 bytes.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "/._:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect()
}

fn is_node_port_type(svc: &ServiceInfo) -> bool {
    matches!(svc.service_type.as_str(), "NodePort" | "LoadBalancer")
}

/// Renders the whole table for `node` as an `nft -f` script that replaces it atomically.
pub fn render(
    cluster: &Cluster,
    layout: &Layout,
    node: &NodeLayout,
    choice: BackendChoice,
) -> String {
    let mut services = Vec::new();
    let mut no_endpoints = Vec::new();
    let mut hairpin: BTreeSet<Ipv4Addr> = BTreeSet::new();
    let node_ips: Vec<String> = node.ips().map(|i| i.to_string()).collect();
    let node_ips = if node_ips.len() == 1 {
        node_ips[0].clone()
    } else {
        format!("{{ {} }}", node_ips.join(", "))
    };
    for svc in cluster.services.values() {
        if svc.service_type == "ExternalName" {
            continue;
        }
        let cluster_ip = match svc.cluster_ip {
            Some(IpAddr::V4(ip)) => Some(ip),
            _ => None,
        };
        for port in &svc.ports {
            let backends = port_backends(cluster, layout, svc, port);
            for (ip, _) in &backends {
                if layout.local_pods(&node.name).any(|p| p.ip == *ip) {
                    hairpin.insert(*ip);
                }
            }
            let proto = proto_kw(port.protocol);
            let label = format!(
                "{}/{}:{}",
                svc.namespace,
                svc.name,
                port.name.as_deref().unwrap_or(&port.port.to_string())
            );
            let comment = format!("comment \"{}\"", comment_text(&label));
            let mut matches = Vec::new();
            if let Some(ip) = cluster_ip {
                matches.push(format!("ip daddr {ip} {proto} dport {}", port.port));
            }
            if is_node_port_type(svc)
                && let Some(np) = port.node_port
            {
                matches.push(format!("ip daddr {node_ips} {proto} dport {np}"));
            }
            for m in matches {
                if backends.is_empty() {
                    let reject = if port.protocol == L4Protocol::Tcp {
                        "reject with tcp reset"
                    } else {
                        "reject"
                    };
                    no_endpoints.push(format!("ct state new {m} {reject} {comment}"));
                } else {
                    services.push(format!("{m} {} {comment}", dnat(&backends, choice)));
                }
            }
        }
    }

    let mut s = String::new();
    let t = SERVICE_TABLE;
    let _ = writeln!(s, "add table ip {t}");
    let _ = writeln!(s, "delete table ip {t}");
    let _ = writeln!(s, "table ip {t} {{");
    // Return-path marks.
    let _ = writeln!(s, "\tchain return-mark-prerouting {{");
    let _ = writeln!(
        s,
        "\t\ttype filter hook prerouting priority mangle; policy accept;"
    );
    let keep = !RETURN_MARK_MASK;
    for other in layout.nodes.values().filter(|o| o.name != node.name) {
        let _ = writeln!(
            s,
            "\t\tiifname \"{UPLINK}\" ct state new ether saddr {} ct mark set ct mark and {keep:#010x} or {:#010x}",
            other.mac,
            other.return_mark()
        );
    }
    for other in layout.nodes.values().filter(|o| o.name != node.name) {
        let _ = writeln!(
            s,
            "\t\tiifname != \"{UPLINK}\" ct mark and {RETURN_MARK_MASK:#010x} == {m:#010x} meta mark set meta mark or {m:#010x}",
            m = other.return_mark()
        );
    }
    let _ = writeln!(s, "\t}}");
    let _ = writeln!(s, "\tchain return-mark-output {{");
    let _ = writeln!(
        s,
        "\t\ttype route hook output priority mangle; policy accept;"
    );
    for other in layout.nodes.values().filter(|o| o.name != node.name) {
        let _ = writeln!(
            s,
            "\t\tct mark and {RETURN_MARK_MASK:#010x} == {m:#010x} meta mark set meta mark or {m:#010x}",
            m = other.return_mark()
        );
    }
    let _ = writeln!(s, "\t}}");
    // DNAT.
    let _ = writeln!(s, "\tchain services {{");
    for r in &services {
        let _ = writeln!(s, "\t\t{r}");
    }
    let _ = writeln!(s, "\t}}");
    let _ = writeln!(
        s,
        "\tchain nat-prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tjump services\n\t}}"
    );
    let _ = writeln!(
        s,
        "\tchain nat-output {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump services\n\t}}"
    );
    let _ = writeln!(s, "\tchain nat-postrouting {{");
    let _ = writeln!(
        s,
        "\t\ttype nat hook postrouting priority srcnat; policy accept;"
    );
    for ip in &hairpin {
        let _ = writeln!(
            s,
            "\t\tct status dnat ip saddr {ip} ip daddr {ip} snat to {} comment \"hairpin\"",
            node.ip
        );
    }
    let _ = writeln!(s, "\t}}");
    // Reject without backends.
    let _ = writeln!(s, "\tchain no-endpoints {{");
    for r in &no_endpoints {
        let _ = writeln!(s, "\t\t{r}");
    }
    let _ = writeln!(s, "\t}}");
    for hook in ["input", "forward", "output"] {
        let _ = writeln!(
            s,
            "\tchain filter-{hook} {{\n\t\ttype filter hook {hook} priority -10; policy accept;\n\t\tjump no-endpoints\n\t}}"
        );
    }
    let _ = writeln!(s, "}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::plan;
    use crate::options::TestbedOptions;
    use tierwall_engine::cluster::{NamedPort, NodeInfo, PodInfo};

    fn cluster() -> Cluster {
        let mut c = Cluster::default();
        for (n, ip) in [("node-0", "172.18.0.2"), ("node-1", "172.18.0.3")] {
            c.nodes.insert(
                n.into(),
                NodeInfo {
                    name: n.into(),
                    labels: Default::default(),
                    ips: vec![ip.parse().unwrap()],
                },
            );
        }
        for (name, ip, node, port) in [
            ("a", "10.10.1.11", "node-0", 8080),
            ("b", "10.10.1.12", "node-1", 9090),
        ] {
            let p = PodInfo {
                namespace: "x".into(),
                name: name.into(),
                labels: [("app".to_string(), "web".to_string())].into(),
                ip: Some(ip.parse().unwrap()),
                node: node.into(),
                service_account: "default".into(),
                host_network: false,
                ports: vec![NamedPort {
                    name: Some("http".into()),
                    port,
                    protocol: L4Protocol::Tcp,
                }],
            };
            c.pods.insert(p.key(), p);
        }
        let svc =
            |name: &str, ty: &str, ip: &str, sel: Option<&str>, target: Option<IntOrString>| {
                ServiceInfo {
                    namespace: "x".into(),
                    name: name.into(),
                    service_type: ty.into(),
                    cluster_ip: Some(ip.parse().unwrap()),
                    selector: sel.map(|v| [("app".to_string(), v.to_string())].into()),
                    ports: vec![ServicePortInfo {
                        name: None,
                        port: 80,
                        protocol: L4Protocol::Tcp,
                        target_port: target,
                        node_port: Some(30080),
                    }],
                }
            };
        for s in [
            svc(
                "web",
                "ClusterIP",
                "10.96.0.10",
                Some("web"),
                Some(IntOrString::String("http".into())),
            ),
            svc(
                "np",
                "NodePort",
                "10.96.0.11",
                Some("web"),
                Some(IntOrString::Int(8080)),
            ),
            svc("empty", "ClusterIP", "10.96.0.12", Some("none"), None),
        ] {
            c.services.insert((s.namespace.clone(), s.name.clone()), s);
        }
        c
    }

    #[test]
    fn renders_dnat_reject_hairpin_and_return_marks() {
        let c = cluster();
        let l = plan(&c, &TestbedOptions::default(), "tw", true).unwrap();
        let text = render(&c, &l, &l.nodes["node-0"], BackendChoice::Random);
        assert!(text.contains(
            "ip daddr 10.96.0.10 tcp dport 80 dnat to numgen random mod 2 map { 0 : 10.10.1.11 . 8080, 1 : 10.10.1.12 . 9090 }"
        ), "{text}");
        assert!(text.contains("ip daddr 172.18.0.2 tcp dport 30080 dnat to numgen"));
        assert!(!text.contains("ip daddr 172.18.0.3"));
        assert!(
            text.contains("ct state new ip daddr 10.96.0.12 tcp dport 80 reject with tcp reset")
        );
        assert!(text.contains("ip saddr 10.10.1.11 ip daddr 10.10.1.11 snat to 172.18.0.2"));
        assert!(!text.contains("ip saddr 10.10.1.12"));
        assert!(text.contains(
            "ether saddr 02:74:77:00:00:01 ct mark set ct mark and 0xff00ffff or 0x00020000"
        ));
        assert!(text.contains("comment \"x/web:80\""));
        assert_eq!(comment_text("a\"b c"), "a_b_c");
        let first = render(&c, &l, &l.nodes["node-0"], BackendChoice::First);
        assert!(first.contains("ip daddr 10.96.0.10 tcp dport 80 dnat to 10.10.1.11:8080"));
    }
}
