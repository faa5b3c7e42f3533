//! Whether an address (with the flow's port on the destination side) is in a rule's source or
//! destination list, through which group member, and what the inventory reports at it.

use super::flow::EndpointMatch;
use crate::ip::IpLiteral;
use crate::members::resolve_group_members;
use crate::model::{ClusterInventory, GroupMember, L4Protocol, is_any};
use crate::validate::{MapLookup, ReferenceLookup};
use std::net::IpAddr;

pub(super) fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Matches `address` (with the flow's port on the destination side) against a source or
/// destination list.
pub(super) fn match_endpoint(
    entries: &[String],
    excluded: bool,
    address: IpAddr,
    port: Option<(L4Protocol, u16)>,
    lookup: &MapLookup,
    inventories: &[ClusterInventory],
) -> Option<EndpointMatch> {
    if is_any(entries) {
        return Some(EndpointMatch {
            entry: "ANY".to_string(),
            group: None,
            member: String::new(),
        });
    }
    let found = entries
        .iter()
        .find_map(|entry| match_entry(entry, address, port, lookup, inventories));
    match (found, excluded) {
        (Some(found), false) => Some(found),
        (None, true) => Some(EndpointMatch {
            entry: format!("NOT {}", entries.join(", ")),
            group: None,
            member: format!("{address} is in none of them (excluded list)"),
        }),
        _ => None,
    }
}

fn match_entry(
    entry: &str,
    address: IpAddr,
    port: Option<(L4Protocol, u16)>,
    lookup: &MapLookup,
    inventories: &[ClusterInventory],
) -> Option<EndpointMatch> {
    if let Some(literal) = IpLiteral::parse(entry) {
        return literal_contains(&literal, address).then(|| EndpointMatch {
            entry: entry.to_string(),
            group: None,
            member: String::new(),
        });
    }
    let group = lookup.group(entry)?;
    let member = resolve_group_members(&group, lookup, inventories)
        .into_iter()
        .find(|m| member_matches(m, address, port))?;
    Some(EndpointMatch {
        entry: entry.to_string(),
        group: Some(group.meta.id.clone()),
        member: describe_member(&member, address, inventories),
    })
}

pub(super) fn member_matches(
    member: &GroupMember,
    address: IpAddr,
    port: Option<(L4Protocol, u16)>,
) -> bool {
    let Some(literal) = IpLiteral::parse(&member.ip_address) else {
        return false;
    };
    if !literal_contains(&literal, address) {
        return false;
    }
    match (member.port, port) {
        (Some(member_port), Some((protocol, flow_port))) => {
            member_port == flow_port && member.protocol.is_none_or(|p| p == protocol)
        }
        _ => true,
    }
}

fn literal_contains(literal: &IpLiteral, address: IpAddr) -> bool {
    match literal {
        IpLiteral::Net(net) => net.contains(&address),
        IpLiteral::Range(start, end) => *start <= address && address <= *end,
    }
}

/// `IP 10.0.0.5`, `node node-0 IP 172.18.0.2 + port 30080/TCP`, `range 10.9.0.0/28`.
pub(super) fn describe_member(
    member: &GroupMember,
    address: IpAddr,
    inventories: &[ClusterInventory],
) -> String {
    let exact = member.ip_address.parse::<IpAddr>().ok() == Some(address);
    let mut text = match (exact, inventory_owner(address, inventories)) {
        (true, Some(owner)) => format!("{owner} IP {}", member.ip_address),
        (true, None) => format!("IP {}", member.ip_address),
        (false, _) => format!("range {} (holds {address})", member.ip_address),
    };
    if let Some(port) = member.port {
        let protocol = member.protocol.map_or("", |p| p.as_str());
        text.push_str(&format!(" + port {port}/{protocol}"));
    }
    text
}

/// What the inventory reports at `address`: `node node-0 (cluster c1)`, `pod shop/web-0 …`.
pub(super) fn inventory_owner(address: IpAddr, inventories: &[ClusterInventory]) -> Option<String> {
    let has = |ips: &[String]| {
        ips.iter()
            .any(|ip| ip.trim().parse::<IpAddr>().ok() == Some(address))
    };
    for inventory in inventories {
        let cluster = &inventory.cluster_id;
        if let Some(n) = inventory.nodes.iter().find(|n| has(&n.ip_addresses)) {
            return Some(format!("node {} (cluster {cluster})", n.display_name));
        }
        if let Some(p) = inventory.pods.iter().find(|p| has(&p.ip_addresses)) {
            return Some(format!(
                "pod {}/{} (cluster {cluster})",
                p.namespace, p.display_name
            ));
        }
        if let Some(s) = inventory
            .services
            .iter()
            .find(|s| has(&s.load_balancer_ips))
        {
            return Some(format!(
                "service {}/{} (cluster {cluster})",
                s.namespace, s.display_name
            ));
        }
        if let Some(e) = inventory.egresses.iter().find(|e| has(&e.egress_ips)) {
            return Some(format!("egress {} (cluster {cluster})", e.display_name));
        }
        if let Some(i) = inventory.ingresses.iter().find(|i| has(&i.ip_addresses)) {
            return Some(format!(
                "ingress {}/{} (cluster {cluster})",
                i.namespace, i.display_name
            ));
        }
        if let Some(g) = inventory.gateways.iter().find(|g| has(&g.ip_addresses)) {
            return Some(format!(
                "gateway {}/{} (cluster {cluster})",
                g.namespace, g.display_name
            ));
        }
    }
    None
}
