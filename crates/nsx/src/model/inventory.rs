//! The cluster inventory an adapter reports to the manager (the MP adapter's job): namespaces,
//! pods, services, nodes, and the Antrea resources VM↔cluster groups select (Egress,
//! ExternalIPPool, IPPool), plus Ingress and Gateway. Kubernetes labels are carried as NSX tags
//! `dis:k8s:<key>` / `<value>` (see [`Tag::k8s_label`](super::Tag::k8s_label)).

use super::common::{ExtraFields, Tag};
use super::service::L4Protocol;
use serde::{Deserialize, Serialize};

/// Everything one cluster reports. Lists are in the order the adapter sends them; consumers
/// that need an order sort.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterInventory {
    /// The cluster-control-plane id the inventory belongs to.
    #[serde(default)]
    pub cluster_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<ContainerProject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<ContainerApplicationInstance>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ContainerApplication>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<ContainerClusterNode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egresses: Vec<AntreaEgress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_ip_pools: Vec<ExternalIpPool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_pools: Vec<AntreaIpPool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingresses: Vec<ContainerIngress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<KubernetesGateway>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A Namespace (NSX `ContainerProject`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerProject {
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A Pod (NSX `ContainerApplicationInstance`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerApplicationInstance {
    pub display_name: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_node_name: Option<String>,
    /// Names (in the pod's namespace) of the Services whose selector picks the pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A Service (NSX `ContainerApplication`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerApplication {
    pub display_name: String,
    pub namespace: String,
    /// `ClusterIP`, `NodePort` or `LoadBalancer`.
    #[serde(default)]
    pub service_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancer_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePortInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePortInfo {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub protocol: L4Protocol,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
}

/// A Node (NSX `ContainerClusterNode`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerClusterNode {
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// An Antrea `Egress` (cluster-scoped): pods it selects leave the cluster with its IP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AntreaEgress {
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ip_pool: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// One range of an IP pool: a CIDR, or `start`-`end`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpPoolRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// An IP pool as the inventory reports it: its name, ranges and tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpPoolInventory {
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_ranges: Vec<IpPoolRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// An Antrea `ExternalIPPool` (the source of Egress IPs).
pub type ExternalIpPool = IpPoolInventory;

/// An Antrea `IPPool` (routable pod IPs).
pub type AntreaIpPool = IpPoolInventory;

/// A Kubernetes `Ingress` with the VIPs its controller assigned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerIngress {
    pub display_name: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A Gateway API `Gateway` with its addresses and listeners.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KubernetesGateway {
    pub display_name: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<GatewayListener>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayListener {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    pub port: u16,
}
