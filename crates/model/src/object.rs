//! The closed set of object kinds tierwall loads, their kubectl short names, and `Object`, the
//! typed union of all of them.

use crate::antrea::{AntreaGroup, AntreaPolicy, Tier};
use crate::inventory_kinds::{AntreaIpPool, Egress, Gateway, Ingress};
use crate::k8s::{Namespace, NetworkPolicy, Node, Pod, Service, ServiceAccount};
use crate::meta::ObjectMeta;
use serde::Serialize;
use std::fmt;

/// Every kind tierwall understands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
pub enum Kind {
    Tier,
    ClusterNetworkPolicy,
    AntreaNetworkPolicy,
    ClusterGroup,
    Group,
    NetworkPolicy,
    Namespace,
    Pod,
    Service,
    Node,
    ServiceAccount,
    /// `crd.antrea.io` Egress (inventory only).
    Egress,
    /// `crd.antrea.io` ExternalIPPool (inventory only).
    ExternalIpPool,
    /// `crd.antrea.io` IPPool (inventory only).
    IpPool,
    /// `networking.k8s.io/v1` Ingress (inventory only).
    Ingress,
    /// `gateway.networking.k8s.io` Gateway (inventory only).
    Gateway,
}

/// API groups under which the Antrea policy kinds are accepted.
pub const ANTREA_API_VERSIONS: &[&str] = &[
    "crd.antrea.io/v1beta1",
    "crd.antrea.io/v1alpha1",
    "crd.antrea.io/v1alpha2",
    "crd.antrea.io/v1alpha3",
    "security.antrea.tanzu.vmware.com/v1alpha1",
    "core.antrea.tanzu.vmware.com/v1alpha2",
];

/// API versions under which the Antrea inventory kinds (Egress, ExternalIPPool, IPPool) are
/// accepted.
pub const ANTREA_INVENTORY_API_VERSIONS: &[&str] =
    &["crd.antrea.io/v1beta1", "crd.antrea.io/v1alpha2"];

/// API versions under which Gateway is accepted.
pub const GATEWAY_API_VERSIONS: &[&str] = &[
    "gateway.networking.k8s.io/v1",
    "gateway.networking.k8s.io/v1beta1",
];

impl Kind {
    /// Position of the kind in the apply order: what others refer to goes first (Nodes,
    /// Namespaces, ServiceAccounts, Pods, Services, the inventory-only kinds, Tiers, groups, then
    /// policies); deletes go in the reverse order.
    pub fn apply_rank(self) -> u8 {
        match self {
            Kind::Node => 0,
            Kind::Namespace => 1,
            Kind::ServiceAccount => 2,
            Kind::Pod => 3,
            Kind::Service => 4,
            Kind::Egress | Kind::ExternalIpPool | Kind::IpPool | Kind::Ingress | Kind::Gateway => 5,
            Kind::Tier => 6,
            Kind::ClusterGroup | Kind::Group => 7,
            Kind::ClusterNetworkPolicy | Kind::AntreaNetworkPolicy | Kind::NetworkPolicy => 8,
        }
    }

    pub const ALL: [Kind; 16] = [
        Kind::Tier,
        Kind::ClusterNetworkPolicy,
        Kind::AntreaNetworkPolicy,
        Kind::ClusterGroup,
        Kind::Group,
        Kind::NetworkPolicy,
        Kind::Namespace,
        Kind::Pod,
        Kind::Service,
        Kind::Node,
        Kind::ServiceAccount,
        Kind::Egress,
        Kind::ExternalIpPool,
        Kind::IpPool,
        Kind::Ingress,
        Kind::Gateway,
    ];

    /// The `kind:` value as written in manifests.
    pub fn kind_name(self) -> &'static str {
        match self {
            Kind::Tier => "Tier",
            Kind::ClusterNetworkPolicy => "ClusterNetworkPolicy",
            Kind::AntreaNetworkPolicy | Kind::NetworkPolicy => "NetworkPolicy",
            Kind::ClusterGroup => "ClusterGroup",
            Kind::Group => "Group",
            Kind::Namespace => "Namespace",
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::Node => "Node",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Egress => "Egress",
            Kind::ExternalIpPool => "ExternalIPPool",
            Kind::IpPool => "IPPool",
            Kind::Ingress => "Ingress",
            Kind::Gateway => "Gateway",
        }
    }

    /// A name that tells the two NetworkPolicy kinds apart, used in messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Kind::AntreaNetworkPolicy => "Antrea NetworkPolicy",
            Kind::NetworkPolicy => "Kubernetes NetworkPolicy",
            k => k.kind_name(),
        }
    }

    /// The kubectl short name (`acnp`, `annp`, `netpol`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            Kind::Tier => "tr",
            Kind::ClusterNetworkPolicy => "acnp",
            Kind::AntreaNetworkPolicy => "annp",
            Kind::ClusterGroup => "cg",
            Kind::Group => "grp",
            Kind::NetworkPolicy => "netpol",
            Kind::Namespace => "ns",
            Kind::Pod => "po",
            Kind::Service => "svc",
            Kind::Node => "no",
            Kind::ServiceAccount => "sa",
            Kind::Egress => "eg",
            Kind::ExternalIpPool => "eip",
            Kind::IpPool => "ipp",
            Kind::Ingress => "ing",
            Kind::Gateway => "gtw",
        }
    }

    /// Parses a short name, plural, singular or kind name, as kubectl accepts them.
    pub fn from_cli_name(name: &str) -> Option<Kind> {
        let n = name.to_ascii_lowercase();
        Some(match n.as_str() {
            "tr" | "tier" | "tiers" => Kind::Tier,
            "acnp" | "acnps" | "clusternetworkpolicy" | "clusternetworkpolicies" => {
                Kind::ClusterNetworkPolicy
            }
            "annp" | "annps" | "anp" | "antreanetworkpolicy" | "antreanetworkpolicies" => {
                Kind::AntreaNetworkPolicy
            }
            "cg" | "cgs" | "clustergroup" | "clustergroups" => Kind::ClusterGroup,
            "grp" | "grps" | "group" | "groups" => Kind::Group,
            "netpol" | "netpols" | "networkpolicy" | "networkpolicies" => Kind::NetworkPolicy,
            "ns" | "namespace" | "namespaces" => Kind::Namespace,
            "po" | "pod" | "pods" => Kind::Pod,
            "svc" | "service" | "services" => Kind::Service,
            "no" | "node" | "nodes" => Kind::Node,
            "sa" | "serviceaccount" | "serviceaccounts" => Kind::ServiceAccount,
            "eg" | "egress" | "egresses" => Kind::Egress,
            "eip" | "externalippool" | "externalippools" => Kind::ExternalIpPool,
            "ipp" | "ippool" | "ippools" => Kind::IpPool,
            "ing" | "ingress" | "ingresses" => Kind::Ingress,
            "gtw" | "gateway" | "gateways" => Kind::Gateway,
            _ => return None,
        })
    }

    /// Resolves `apiVersion` + `kind` of a manifest.
    pub fn from_type_meta(api_version: &str, kind: &str) -> Option<Kind> {
        let antrea = ANTREA_API_VERSIONS.contains(&api_version);
        let antrea_inventory = ANTREA_INVENTORY_API_VERSIONS.contains(&api_version);
        Some(match (kind, api_version) {
            ("Tier", _) if antrea => Kind::Tier,
            ("ClusterNetworkPolicy", _) if antrea => Kind::ClusterNetworkPolicy,
            ("NetworkPolicy", _) if antrea => Kind::AntreaNetworkPolicy,
            ("ClusterGroup", _) if antrea => Kind::ClusterGroup,
            ("Group", _) if antrea => Kind::Group,
            ("NetworkPolicy", "networking.k8s.io/v1") => Kind::NetworkPolicy,
            ("Namespace", "v1") => Kind::Namespace,
            ("Pod", "v1") => Kind::Pod,
            ("Service", "v1") => Kind::Service,
            ("Node", "v1") => Kind::Node,
            ("ServiceAccount", "v1") => Kind::ServiceAccount,
            ("Egress", _) if antrea_inventory => Kind::Egress,
            ("ExternalIPPool", _) if antrea_inventory => Kind::ExternalIpPool,
            ("IPPool", _) if antrea_inventory => Kind::IpPool,
            ("Ingress", "networking.k8s.io/v1") => Kind::Ingress,
            ("Gateway", _) if GATEWAY_API_VERSIONS.contains(&api_version) => Kind::Gateway,
            _ => return None,
        })
    }

    /// The canonical `apiVersion` tierwall writes for the kind.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Tier
            | Kind::ClusterNetworkPolicy
            | Kind::AntreaNetworkPolicy
            | Kind::ClusterGroup
            | Kind::Group
            | Kind::Egress
            | Kind::ExternalIpPool
            | Kind::IpPool => "crd.antrea.io/v1beta1",
            Kind::NetworkPolicy | Kind::Ingress => "networking.k8s.io/v1",
            Kind::Gateway => "gateway.networking.k8s.io/v1",
            Kind::Namespace | Kind::Pod | Kind::Service | Kind::Node | Kind::ServiceAccount => "v1",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        matches!(
            self,
            Kind::AntreaNetworkPolicy
                | Kind::Group
                | Kind::NetworkPolicy
                | Kind::Pod
                | Kind::Service
                | Kind::ServiceAccount
                | Kind::Ingress
                | Kind::Gateway
        )
    }

    /// Whether the kind is only inventory (its IPs are reported to a manager; it has no policy
    /// semantics in the cluster).
    pub fn is_inventory_only(self) -> bool {
        matches!(
            self,
            Kind::Egress | Kind::ExternalIpPool | Kind::IpPool | Kind::Ingress | Kind::Gateway
        )
    }

    /// Whether the kind is a policy (has rules that decide traffic).
    pub fn is_policy(self) -> bool {
        matches!(
            self,
            Kind::ClusterNetworkPolicy | Kind::AntreaNetworkPolicy | Kind::NetworkPolicy
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// Identity of an object: kind, namespace (for namespaced kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            kind,
            namespace: if kind.is_namespaced() {
                namespace.map(str::to_string)
            } else {
                None
            },
            name: name.to_string(),
        }
    }

    pub fn cluster(kind: Kind, name: &str) -> Self {
        ObjectKey {
            kind,
            namespace: None,
            name: name.to_string(),
        }
    }

    pub fn namespaced(kind: Kind, namespace: &str, name: &str) -> Self {
        ObjectKey {
            kind,
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        }
    }

    /// Parses `acnp/name`, `annp/ns/name`, `po/ns/name` (the scenario `delete` syntax).
    pub fn parse(text: &str) -> Result<ObjectKey, String> {
        let mut parts = text.splitn(3, '/');
        let kind_text = parts.next().unwrap_or_default();
        let kind = Kind::from_cli_name(kind_text)
            .ok_or_else(|| format!("unknown resource type {kind_text:?} in {text:?}"))?;
        let rest: Vec<&str> = parts.collect();
        match (kind.is_namespaced(), rest.as_slice()) {
            (true, [ns, name]) => Ok(ObjectKey::namespaced(kind, ns, name)),
            (false, [name]) => Ok(ObjectKey::cluster(kind, name)),
            (true, _) => Err(format!(
                "{text:?}: {kind} is namespaced, expected {}/<namespace>/<name>",
                kind.short_name()
            )),
            (false, _) => Err(format!("{text:?}: expected {}/<name>", kind.short_name())),
        }
    }

    /// `Kind ns/name` or `Kind name`, for messages.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

impl fmt::Display for ObjectKey {
    /// The short form `acnp/name`, `annp/ns/name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind.short_name(), self.name),
            None => write!(f, "{}/{}", self.kind.short_name(), self.name),
        }
    }
}

/// Any object tierwall loads. Serializes as the wrapped Kubernetes object.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Tier(Tier),
    /// ClusterNetworkPolicy or Antrea NetworkPolicy (see `AntreaPolicy::kind`).
    AntreaPolicy(Kind, AntreaPolicy),
    /// ClusterGroup or Group.
    AntreaGroup(Kind, AntreaGroup),
    NetworkPolicy(NetworkPolicy),
    Namespace(Namespace),
    Pod(Pod),
    Service(Service),
    Node(Node),
    ServiceAccount(ServiceAccount),
    Egress(Egress),
    /// ExternalIPPool or IPPool.
    AntreaIpPool(Kind, AntreaIpPool),
    Ingress(Ingress),
    Gateway(Gateway),
}

impl Serialize for Object {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Object::Tier(o) => o.serialize(serializer),
            Object::AntreaPolicy(_, o) => o.serialize(serializer),
            Object::AntreaGroup(_, o) => o.serialize(serializer),
            Object::NetworkPolicy(o) => o.serialize(serializer),
            Object::Namespace(o) => o.serialize(serializer),
            Object::Pod(o) => o.serialize(serializer),
            Object::Service(o) => o.serialize(serializer),
            Object::Node(o) => o.serialize(serializer),
            Object::ServiceAccount(o) => o.serialize(serializer),
            Object::Egress(o) => o.serialize(serializer),
            Object::AntreaIpPool(_, o) => o.serialize(serializer),
            Object::Ingress(o) => o.serialize(serializer),
            Object::Gateway(o) => o.serialize(serializer),
        }
    }
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Tier(_) => Kind::Tier,
            Object::AntreaPolicy(k, _) | Object::AntreaGroup(k, _) | Object::AntreaIpPool(k, _) => {
                *k
            }
            Object::NetworkPolicy(_) => Kind::NetworkPolicy,
            Object::Namespace(_) => Kind::Namespace,
            Object::Pod(_) => Kind::Pod,
            Object::Service(_) => Kind::Service,
            Object::Node(_) => Kind::Node,
            Object::ServiceAccount(_) => Kind::ServiceAccount,
            Object::Egress(_) => Kind::Egress,
            Object::Ingress(_) => Kind::Ingress,
            Object::Gateway(_) => Kind::Gateway,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Tier(o) => &o.metadata,
            Object::AntreaPolicy(_, o) => &o.metadata,
            Object::AntreaGroup(_, o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::Egress(o) => &o.metadata,
            Object::AntreaIpPool(_, o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::Gateway(o) => &o.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Tier(o) => &mut o.metadata,
            Object::AntreaPolicy(_, o) => &mut o.metadata,
            Object::AntreaGroup(_, o) => &mut o.metadata,
            Object::NetworkPolicy(o) => &mut o.metadata,
            Object::Namespace(o) => &mut o.metadata,
            Object::Pod(o) => &mut o.metadata,
            Object::Service(o) => &mut o.metadata,
            Object::Node(o) => &mut o.metadata,
            Object::ServiceAccount(o) => &mut o.metadata,
            Object::Egress(o) => &mut o.metadata,
            Object::AntreaIpPool(_, o) => &mut o.metadata,
            Object::Ingress(o) => &mut o.metadata,
            Object::Gateway(o) => &mut o.metadata,
        }
    }

    /// The key; namespaced kinds without a namespace are placed in `default`, as kubectl does.
    pub fn key(&self) -> ObjectKey {
        let kind = self.kind();
        let meta = self.metadata();
        let ns = if kind.is_namespaced() {
            Some(meta.namespace.as_deref().unwrap_or("default"))
        } else {
            None
        };
        ObjectKey::new(kind, ns, &meta.name)
    }

    /// Sets `apiVersion`/`kind` to the canonical values and defaults the namespace.
    pub fn normalize_type_meta(&mut self) {
        let kind = self.kind();
        if kind.is_namespaced() && self.metadata().namespace.is_none() {
            self.metadata_mut().namespace = Some("default".to_string());
        }
        let (api, k) = (kind.api_version().to_string(), kind.kind_name().to_string());
        match self {
            Object::Tier(o) => (o.api_version, o.kind) = (api, k),
            Object::AntreaPolicy(_, o) => (o.api_version, o.kind) = (api, k),
            Object::AntreaGroup(_, o) => (o.api_version, o.kind) = (api, k),
            Object::NetworkPolicy(o) => (o.api_version, o.kind) = (api, k),
            Object::Namespace(o) => (o.api_version, o.kind) = (api, k),
            Object::Pod(o) => (o.api_version, o.kind) = (api, k),
            Object::Service(o) => (o.api_version, o.kind) = (api, k),
            Object::Node(o) => (o.api_version, o.kind) = (api, k),
            Object::ServiceAccount(o) => (o.api_version, o.kind) = (api, k),
            Object::Egress(o) => (o.api_version, o.kind) = (api, k),
            Object::AntreaIpPool(_, o) => (o.api_version, o.kind) = (api, k),
            Object::Ingress(o) => (o.api_version, o.kind) = (api, k),
            Object::Gateway(o) => (o.api_version, o.kind) = (api, k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_delete_keys() {
        assert_eq!(
            ObjectKey::parse("annp/x/name").unwrap(),
            ObjectKey::namespaced(Kind::AntreaNetworkPolicy, "x", "name")
        );
        assert_eq!(ObjectKey::parse("acnp/a").unwrap().to_string(), "acnp/a");
        assert!(ObjectKey::parse("netpol/onlyname").is_err());
        assert!(ObjectKey::parse("bogus/x").is_err());
    }

    #[test]
    fn resolves_network_policy_groups() {
        assert_eq!(
            Kind::from_type_meta("networking.k8s.io/v1", "NetworkPolicy"),
            Some(Kind::NetworkPolicy)
        );
        assert_eq!(
            Kind::from_type_meta("security.antrea.tanzu.vmware.com/v1alpha1", "NetworkPolicy"),
            Some(Kind::AntreaNetworkPolicy)
        );
        assert_eq!(Kind::from_type_meta("v1", "ConfigMap"), None);
    }
}
