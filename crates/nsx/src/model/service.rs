//! `Service` (`/infra/services/{id}`) and its polymorphic `service_entries`
//! (L4PortSetServiceEntry, ICMPTypeServiceEntry, …), which rules also carry inline.

use super::common::{ExtraFields, ResourceMeta};
use serde::{Deserialize, Serialize};

/// An NSX service: a named list of service entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    #[serde(flatten)]
    pub meta: ResourceMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_entries: Vec<ServiceEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Service {
    /// The object path, or `/infra/services/<id>`.
    pub fn path_or_default(&self) -> String {
        self.meta
            .path
            .clone()
            .unwrap_or_else(|| format!("/infra/services/{}", self.meta.id))
    }
}

/// One service entry, keyed by `resource_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resource_type")]
pub enum ServiceEntry {
    L4PortSetServiceEntry(L4PortSetServiceEntry),
    #[serde(rename = "ICMPTypeServiceEntry")]
    IcmpTypeServiceEntry(IcmpTypeServiceEntry),
    #[serde(rename = "IPProtocolServiceEntry")]
    IpProtocolServiceEntry(IpProtocolServiceEntry),
    #[serde(rename = "IGMPTypeServiceEntry")]
    IgmpTypeServiceEntry(IgmpTypeServiceEntry),
    #[serde(rename = "ALGTypeServiceEntry")]
    AlgTypeServiceEntry(AlgTypeServiceEntry),
    EtherTypeServiceEntry(EtherTypeServiceEntry),
    NestedServiceServiceEntry(NestedServiceServiceEntry),
}

impl ServiceEntry {
    pub fn resource_type(&self) -> &'static str {
        match self {
            ServiceEntry::L4PortSetServiceEntry(_) => "L4PortSetServiceEntry",
            ServiceEntry::IcmpTypeServiceEntry(_) => "ICMPTypeServiceEntry",
            ServiceEntry::IpProtocolServiceEntry(_) => "IPProtocolServiceEntry",
            ServiceEntry::IgmpTypeServiceEntry(_) => "IGMPTypeServiceEntry",
            ServiceEntry::AlgTypeServiceEntry(_) => "ALGTypeServiceEntry",
            ServiceEntry::EtherTypeServiceEntry(_) => "EtherTypeServiceEntry",
            ServiceEntry::NestedServiceServiceEntry(_) => "NestedServiceServiceEntry",
        }
    }

    /// An L4 entry with destination ports (`"80"` or `"8000-8080"`).
    pub fn l4(id: &str, protocol: L4Protocol, destination_ports: &[&str]) -> Self {
        ServiceEntry::L4PortSetServiceEntry(L4PortSetServiceEntry {
            id: id.to_string(),
            display_name: Some(id.to_string()),
            l4_protocol: protocol,
            destination_ports: destination_ports.iter().map(|p| p.to_string()).collect(),
            source_ports: Vec::new(),
            extra: ExtraFields::new(),
        })
    }
}

/// TCP or UDP ports. Port values are decimal strings or `"low-high"` ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct L4PortSetServiceEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub l4_protocol: L4Protocol,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_ports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ports: Vec<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum L4Protocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
}

impl L4Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            L4Protocol::Tcp => "TCP",
            L4Protocol::Udp => "UDP",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcmpTypeServiceEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `ICMPv4` or `ICMPv6`.
    #[serde(default)]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<i64>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpProtocolServiceEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub protocol_number: i64,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IgmpTypeServiceEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlgTypeServiceEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub alg: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_ports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_ports: Vec<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EtherTypeServiceEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub ether_type: i64,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Includes another service by path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedServiceServiceEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub nested_service_path: String,
    #[serde(flatten)]
    pub extra: ExtraFields,
}
