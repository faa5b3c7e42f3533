//! The predefined `/infra/services` catalogue: the system-owned services NSX ships, with NSX's
//! ids, entry ids and ports (a subset: the common TCP/UDP ones, plus a few non-L4 ones that
//! exist so that "only TCP/UDP" has something real to reject).

use super::common::{ExtraFields, ResourceMeta};
use super::service::{
    AlgTypeServiceEntry, IcmpTypeServiceEntry, L4Protocol, Service, ServiceEntry,
};
use std::sync::OnceLock;

/// `(id, display_name, [(entry id, protocol, destination ports)])`.
type L4Definition = (
    &'static str,
    &'static str,
    &'static [(&'static str, L4Protocol, &'static [&'static str])],
);

const L4_SERVICES: &[L4Definition] = &[
    ("HTTP", "HTTP", &[("HTTP", L4Protocol::Tcp, &["80"])]),
    ("HTTPS", "HTTPS", &[("HTTPS", L4Protocol::Tcp, &["443"])]),
    (
        "DNS",
        "DNS",
        &[
            ("DNS-TCP", L4Protocol::Tcp, &["53"]),
            ("DNS-UDP", L4Protocol::Udp, &["53"]),
        ],
    ),
    (
        "DNS-UDP",
        "DNS-UDP",
        &[("DNS-UDP", L4Protocol::Udp, &["53"])],
    ),
    ("SSH", "SSH", &[("SSH", L4Protocol::Tcp, &["22"])]),
    ("SMTP", "SMTP", &[("SMTP", L4Protocol::Tcp, &["25"])]),
    ("MySQL", "MySQL", &[("MySQL", L4Protocol::Tcp, &["3306"])]),
    ("LDAP", "LDAP", &[("LDAP", L4Protocol::Tcp, &["389"])]),
    (
        "LDAP-UDP",
        "LDAP-UDP",
        &[("LDAP-UDP", L4Protocol::Udp, &["389"])],
    ),
    ("NTP", "NTP", &[("NTP", L4Protocol::Udp, &["123"])]),
    ("RDP", "RDP", &[("RDP", L4Protocol::Tcp, &["3389"])]),
    (
        "Syslog-UDP",
        "Syslog (UDP)",
        &[("Syslog-UDP", L4Protocol::Udp, &["514"])],
    ),
    (
        "Syslog-TCP",
        "Syslog (TCP)",
        &[("Syslog-TCP", L4Protocol::Tcp, &["514"])],
    ),
    (
        "SNMP",
        "SNMP",
        &[("SNMP", L4Protocol::Udp, &["161", "162"])],
    ),
    (
        "KERBEROS",
        "KERBEROS",
        &[("KERBEROS", L4Protocol::Tcp, &["88"])],
    ),
    (
        "KERBEROS-UDP",
        "KERBEROS-UDP",
        &[("KERBEROS-UDP", L4Protocol::Udp, &["88"])],
    ),
    (
        "DHCP-Server",
        "DHCP-Server",
        &[("DHCP-Server", L4Protocol::Udp, &["67"])],
    ),
    (
        "DHCP-Client",
        "DHCP-Client",
        &[("DHCP-Client", L4Protocol::Udp, &["68"])],
    ),
    (
        "HTTP-ALT",
        "HTTP-ALT",
        &[("HTTP-ALT", L4Protocol::Tcp, &["8080"])],
    ),
    (
        "PostgreSQL",
        "PostgreSQL",
        &[("PostgreSQL", L4Protocol::Tcp, &["5432"])],
    ),
    ("Redis", "Redis", &[("Redis", L4Protocol::Tcp, &["6379"])]),
];

fn system_meta(id: &str, display_name: &str) -> ResourceMeta {
    ResourceMeta {
        resource_type: Some("Service".to_string()),
        id: id.to_string(),
        display_name: Some(display_name.to_string()),
        path: Some(format!("/infra/services/{id}")),
        parent_path: Some("/infra".to_string()),
        relative_path: Some(id.to_string()),
        revision: Some(0),
        system_owned: Some(true),
        ..ResourceMeta::default()
    }
}

fn build_catalogue() -> Vec<Service> {
    let mut services: Vec<Service> = L4_SERVICES
        .iter()
        .map(|(id, display_name, entries)| Service {
            meta: system_meta(id, display_name),
            service_entries: entries
                .iter()
                .map(|(entry_id, protocol, ports)| ServiceEntry::l4(entry_id, *protocol, ports))
                .collect(),
            service_type: Some("NON_ETHER".to_string()),
            is_default: Some(true),
            extra: ExtraFields::new(),
        })
        .collect();
    services.push(Service {
        meta: system_meta("ICMP-ALL", "ICMP ALL"),
        service_entries: vec![ServiceEntry::IcmpTypeServiceEntry(IcmpTypeServiceEntry {
            id: "ICMP-ALL".to_string(),
            display_name: Some("ICMP ALL".to_string()),
            protocol: "ICMPv4".to_string(),
            icmp_type: None,
            icmp_code: None,
            extra: ExtraFields::new(),
        })],
        service_type: Some("NON_ETHER".to_string()),
        is_default: Some(true),
        extra: ExtraFields::new(),
    });
    services.push(Service {
        meta: system_meta("FTP", "FTP"),
        service_entries: vec![ServiceEntry::AlgTypeServiceEntry(AlgTypeServiceEntry {
            id: "FTP".to_string(),
            display_name: Some("FTP".to_string()),
            alg: "FTP".to_string(),
            destination_ports: vec!["21".to_string()],
            source_ports: Vec::new(),
            extra: ExtraFields::new(),
        })],
        service_type: Some("NON_ETHER".to_string()),
        is_default: Some(true),
        extra: ExtraFields::new(),
    });
    services.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    services
}

/// All predefined services, sorted by id.
pub fn predefined_services() -> &'static [Service] {
    static CATALOGUE: OnceLock<Vec<Service>> = OnceLock::new();
    CATALOGUE.get_or_init(build_catalogue)
}

/// The predefined service at `path` (`/infra/services/HTTP`) or with that id.
pub fn predefined_service(path_or_id: &str) -> Option<&'static Service> {
    let id = path_or_id
        .strip_prefix("/infra/services/")
        .unwrap_or(path_or_id);
    predefined_services()
        .binary_search_by(|s| s.meta.id.as_str().cmp(id))
        .ok()
        .and_then(|index| predefined_services().get(index))
}
