//! Inventory objects without policy semantics whose IPs an NSX manager groups by: Antrea
//! `crd.antrea.io` Egress, ExternalIPPool and IPPool (`v1beta1`, `v1alpha2`),
//! `networking.k8s.io/v1` Ingress and `gateway.networking.k8s.io` Gateway (`v1`, `v1beta1`).
//! The fields that carry IPs are typed; the other fields of the upstream CRDs are accepted as
//! opaque JSON (listed explicitly, so that a misspelt field is still reported).

use crate::meta::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `crd.antrea.io` Egress (cluster-scoped): the pods it applies to leave the cluster with its IP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Egress {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: EgressSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EgressStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_to: Option<EgressAppliedTo>,
    #[serde(default, rename = "egressIP", skip_serializing_if = "Option::is_none")]
    pub egress_ip: Option<String>,
    #[serde(default, rename = "egressIPs", skip_serializing_if = "Vec::is_empty")]
    pub egress_ips: Vec<String>,
    #[serde(
        default,
        rename = "externalIPPool",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_ip_pool: Option<String>,
    #[serde(
        default,
        rename = "externalIPPools",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_ip_pools: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Box<Value>>,
}

/// The pods an Egress applies to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressAppliedTo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_node: Option<String>,
    #[serde(default, rename = "egressIP", skip_serializing_if = "Option::is_none")]
    pub egress_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Box<Value>>,
}

impl Egress {
    /// Every IP the Egress holds (spec `egressIP`, `egressIPs`, status `egressIP`), sorted and
    /// without duplicates.
    pub fn ips(&self) -> Vec<String> {
        let mut ips: Vec<String> = self
            .spec
            .egress_ip
            .iter()
            .chain(&self.spec.egress_ips)
            .chain(self.status.as_ref().and_then(|s| s.egress_ip.as_ref()))
            .filter(|ip| !ip.is_empty())
            .cloned()
            .collect();
        ips.sort();
        ips.dedup();
        ips
    }
}

/// `crd.antrea.io` ExternalIPPool or IPPool (cluster-scoped; see [`crate::Kind`]): a set of IP
/// ranges. ExternalIPPool has `nodeSelector`, `v1alpha2` IPPool has `ipVersion` and per-range
/// subnet fields; both are accepted on either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AntreaIpPool {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: IpPoolSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpPoolSpec {
    #[serde(default, rename = "ipRanges", skip_serializing_if = "Vec::is_empty")]
    pub ip_ranges: Vec<IpPoolRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_info: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<Box<Value>>,
}

/// One range of a pool: `cidr`, or `start`-`end` (`v1alpha2` IPPool adds the subnet fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpPoolRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
}

/// `networking.k8s.io/v1` Ingress: only the load-balancer IPs its controller assigned are typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ingress {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<IngressStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<IngressLoadBalancerStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressLoadBalancerStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressLoadBalancerIngress>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressLoadBalancerIngress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Box<Value>>,
}

impl Ingress {
    /// The load-balancer IPs in `status.loadBalancer.ingress[].ip`, in order.
    pub fn ips(&self) -> Vec<String> {
        self.status
            .iter()
            .flat_map(|s| &s.load_balancer)
            .flat_map(|lb| &lb.ingress)
            .filter_map(|i| i.ip.clone())
            .filter(|ip| !ip.is_empty())
            .collect()
    }
}

/// `gateway.networking.k8s.io` Gateway: addresses (requested and assigned) and listeners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gateway {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: GatewaySpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<GatewayStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySpec {
    #[serde(default)]
    pub gateway_class_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<GatewayListener>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<GatewayAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<Box<Value>>,
    #[serde(
        default,
        rename = "backendTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub backend_tls: Option<Box<Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayListener {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub port: u16,
    #[serde(default)]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_routes: Option<Box<Value>>,
}

/// An address of a Gateway: `type` is `IPAddress` (the default), `Hostname` or a vendor type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayAddress {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub address_type: Option<String>,
    pub value: String,
}

impl GatewayAddress {
    /// Whether the address is an IP (`type` absent or `IPAddress`).
    pub fn is_ip(&self) -> bool {
        matches!(self.address_type.as_deref(), None | Some("IPAddress"))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<GatewayAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listeners: Option<Box<Value>>,
}

impl Gateway {
    /// The IP addresses of `spec.addresses` and `status.addresses`, sorted, without duplicates.
    pub fn ips(&self) -> Vec<String> {
        let mut ips: Vec<String> = self
            .spec
            .addresses
            .iter()
            .chain(self.status.iter().flat_map(|s| &s.addresses))
            .filter(|a| a.is_ip() && !a.value.is_empty())
            .map(|a| a.value.clone())
            .collect();
        ips.sort();
        ips.dedup();
        ips
    }
}
