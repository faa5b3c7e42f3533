//! Whether the flow's protocol and destination port are in a rule's services or service
//! entries (nested services followed up to [`MAX_SERVICE_NESTING`] levels), and which.

use super::flow::TraceFlow;
use crate::model::{L4Protocol, Rule, Service, ServiceEntry, is_any};
use crate::validate::{MapLookup, resolve_service};

/// `ANY`, `service HTTP: TCP 80`, `entry TCP 8080`.
pub(super) fn match_services(rule: &Rule, flow: &TraceFlow, lookup: &MapLookup) -> Option<String> {
    if is_any(&rule.services) && rule.service_entries.is_empty() {
        return Some("ANY".to_string());
    }
    for entry in &rule.service_entries {
        if let Some(why) = match_service_entry(entry, flow, lookup, 0) {
            return Some(format!("entry {why}"));
        }
    }
    if !is_any(&rule.services) {
        for path in &rule.services {
            let Some(service) = resolve_service(lookup, path) else {
                continue;
            };
            if let Some(why) = match_service(&service, flow, lookup, 0) {
                return Some(why);
            }
        }
    }
    None
}

pub(super) const MAX_SERVICE_NESTING: usize = 8;

fn match_service(
    service: &Service,
    flow: &TraceFlow,
    lookup: &MapLookup,
    depth: usize,
) -> Option<String> {
    let name = service.meta.id.clone();
    service
        .service_entries
        .iter()
        .find_map(|entry| match_service_entry(entry, flow, lookup, depth))
        .map(|why| format!("service {name}: {why}"))
}

fn match_service_entry(
    entry: &ServiceEntry,
    flow: &TraceFlow,
    lookup: &MapLookup,
    depth: usize,
) -> Option<String> {
    match entry {
        ServiceEntry::L4PortSetServiceEntry(l4) => {
            if l4.l4_protocol != flow.protocol {
                return None;
            }
            if l4.destination_ports.is_empty() {
                return Some(format!("{} any port", l4.l4_protocol.as_str()));
            }
            l4.destination_ports
                .iter()
                .find(|ports| port_in(ports, flow.destination_port))
                .map(|ports| format!("{} {}", l4.l4_protocol.as_str(), ports.trim()))
        }
        ServiceEntry::IpProtocolServiceEntry(ip) => {
            let number = match flow.protocol {
                L4Protocol::Tcp => 6,
                L4Protocol::Udp => 17,
            };
            (ip.protocol_number == number).then(|| format!("IP protocol {number}"))
        }
        ServiceEntry::NestedServiceServiceEntry(nested) if depth < MAX_SERVICE_NESTING => {
            let service = resolve_service(lookup, &nested.nested_service_path)?;
            match_service(&service, flow, lookup, depth + 1)
        }
        _ => None,
    }
}

/// True when `port` is `ports` (`"80"`) or in it (`"8000-8080"`).
fn port_in(ports: &str, port: u16) -> bool {
    let ports = ports.trim();
    match ports.split_once('-') {
        Some((low, high)) => match (low.trim().parse::<u16>(), high.trim().parse::<u16>()) {
            (Ok(low), Ok(high)) => low <= port && port <= high,
            _ => false,
        },
        None => ports.parse::<u16>() == Ok(port),
    }
}
