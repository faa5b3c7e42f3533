//! `Cluster`: the index of everything policies select or reach — namespaces, pods, nodes,
//! services, service accounts, groups and tiers — derived from `Store` objects and maintained
//! one object at a time (`apply` / `delete`), so a change costs what changed.
//!
//! ```text
//!  Namespace ──< Pod >── Node          Service ──selector──> Pods (backends)
//!      │          │ ip ─> pod_by_ip      ClusterGroup / Group ──> selectors | ipBlocks | childGroups
//!      └─ labels  └─ containerPorts (named ports)
//! ```

use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use tierwall_model::antrea::GroupSpec;
use tierwall_model::meta::StringMap;
use tierwall_model::{IntOrString, Object, ObjectKey};

/// `(namespace, name)` of a namespaced object.
pub type NsName = (String, String);

/// Transport protocols a port can name (the contract's type).
pub use tierwall_node_api::L4Protocol;

/// A declared container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: L4Protocol,
}

/// What the engine knows of a Pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub labels: StringMap,
    /// The Pod's address; for a hostNetwork Pod, its Node's address.
    pub ip: Option<IpAddr>,
    pub node: String,
    pub service_account: String,
    pub host_network: bool,
    pub ports: Vec<NamedPort>,
}

impl PodInfo {
    /// Resolves a named port for `protocol` on this Pod.
    pub fn resolve_named_port(&self, name: &str, protocol: L4Protocol) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name) && p.protocol == protocol)
            .map(|p| p.port)
    }

    pub fn key(&self) -> NsName {
        (self.namespace.clone(), self.name.clone())
    }
}

/// A Node: labels and every address that counts as the Node's (InternalIP, ExternalIP,
/// gateway, transport).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: StringMap,
    pub ips: Vec<IpAddr>,
}

/// One port of a Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePortInfo {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: L4Protocol,
    pub target_port: Option<IntOrString>,
    pub node_port: Option<u16>,
}

/// A Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    pub namespace: String,
    pub name: String,
    pub service_type: String,
    /// `None` for headless Services.
    pub cluster_ip: Option<IpAddr>,
    pub selector: Option<StringMap>,
    pub ports: Vec<ServicePortInfo>,
}

/// The indexed cluster.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    pub namespaces: BTreeMap<String, StringMap>,
    pub pods: BTreeMap<NsName, PodInfo>,
    pub nodes: BTreeMap<String, NodeInfo>,
    pub services: BTreeMap<NsName, ServiceInfo>,
    pub service_accounts: BTreeSet<NsName>,
    pub cluster_groups: BTreeMap<String, GroupSpec>,
    pub groups: BTreeMap<NsName, GroupSpec>,
    /// Tier name → priority.
    pub tiers: BTreeMap<String, i32>,
    /// Addresses of non-hostNetwork Pods.
    pod_by_ip: HashMap<IpAddr, NsName>,
    /// Node addresses.
    node_by_ip: HashMap<IpAddr, String>,
    /// Service ClusterIPs.
    service_by_ip: HashMap<IpAddr, NsName>,
    /// Namespaces annotated `networkpolicy.antrea.io/enable-logging: "true"`.
    pub logging_namespaces: BTreeSet<String>,
    /// DNS names the engine knows beyond cluster DNS (FQDN policy input): name → addresses.
    pub dns: BTreeMap<String, Vec<IpAddr>>,
}

/// Annotation carrying extra Node addresses (the Antrea gateway IP, a transport IP), comma separated.
pub const NODE_EXTRA_IPS_ANNOTATION: &str = "tierwall.io/node-ips";

impl Cluster {
    /// Indexes an object (insert or replace). Policies are not indexed here.
    pub fn apply(&mut self, object: &Object) {
        match object {
            Object::Namespace(ns) => {
                let mut labels = ns.metadata.labels.clone();
                labels
                    .entry("kubernetes.io/metadata.name".into())
                    .or_insert_with(|| ns.metadata.name.clone());
                self.namespaces.insert(ns.metadata.name.clone(), labels);
                let logged = ns
                    .metadata
                    .annotations
                    .get("networkpolicy.antrea.io/enable-logging")
                    .is_some_and(|v| parse_go_bool(v));
                if logged {
                    self.logging_namespaces.insert(ns.metadata.name.clone());
                } else {
                    self.logging_namespaces.remove(&ns.metadata.name);
                }
            }
            Object::Pod(pod) => {
                let info = pod_info(pod, &self.nodes);
                let key = info.key();
                let ip = info.ip.filter(|_| !info.host_network);
                // Replace first, then move the address index from the old to the new address.
                if let Some(old_ip) = self.pods.insert(key.clone(), info).and_then(|old| old.ip)
                    && self.pod_by_ip.get(&old_ip) == Some(&key)
                {
                    self.pod_by_ip.remove(&old_ip);
                }
                if let Some(ip) = ip {
                    self.pod_by_ip.insert(ip, key);
                }
            }
            Object::Node(node) => {
                let info = node_info(node);
                self.delete_node(&info.name);
                for ip in &info.ips {
                    self.node_by_ip.insert(*ip, info.name.clone());
                }
                // hostNetwork Pods follow their Node's address.
                let ip = info.ips.first().copied();
                for pod in self
                    .pods
                    .values_mut()
                    .filter(|p| p.host_network && p.node == info.name)
                {
                    pod.ip = ip;
                }
                self.nodes.insert(info.name.clone(), info);
            }
            Object::Service(svc) => {
                let info = service_info(svc);
                self.services
                    .insert((info.namespace.clone(), info.name.clone()), info);
            }
            Object::ServiceAccount(sa) => {
                self.service_accounts.insert(ns_name(&object.key()));
                let _ = sa;
            }
            Object::AntreaGroup(kind, g) => {
                let key = object.key();
                if *kind == tierwall_model::Kind::ClusterGroup {
                    self.cluster_groups.insert(key.name, g.spec.clone());
                } else {
                    self.groups.insert(ns_name(&key), g.spec.clone());
                }
            }
            Object::Tier(t) => {
                self.tiers.insert(t.metadata.name.clone(), t.spec.priority);
            }
            // Policies are compiled elsewhere; inventory-only kinds select nothing.
            Object::AntreaPolicy(..)
            | Object::NetworkPolicy(_)
            | Object::Egress(_)
            | Object::AntreaIpPool(..)
            | Object::Ingress(_)
            | Object::Gateway(_) => {}
        }
    }

    /// Removes an object from the index.
    pub fn delete(&mut self, key: &ObjectKey) {
        use tierwall_model::Kind;
        match key.kind {
            Kind::Namespace => {
                self.namespaces.remove(&key.name);
                self.logging_namespaces.remove(&key.name);
            }
            Kind::Pod => self.delete_pod(&ns_name(key)),
            Kind::Node => self.delete_node(&key.name),
            Kind::Service => self.delete_service(&ns_name(key)),
            Kind::ServiceAccount => {
                self.service_accounts.remove(&ns_name(key));
            }
            Kind::ClusterGroup => {
                self.cluster_groups.remove(&key.name);
            }
            Kind::Group => {
                self.groups.remove(&ns_name(key));
            }
            Kind::Tier => {
                self.tiers.remove(&key.name);
            }
            Kind::ClusterNetworkPolicy
            | Kind::AntreaNetworkPolicy
            | Kind::NetworkPolicy
            | Kind::Egress
            | Kind::ExternalIpPool
            | Kind::IpPool
            | Kind::Ingress
            | Kind::Gateway => {}
        }
    }

    fn delete_pod(&mut self, key: &NsName) {
        if let Some(old) = self.pods.remove(key)
            && let Some(ip) = old.ip
            && self.pod_by_ip.get(&ip) == Some(key)
        {
            self.pod_by_ip.remove(&ip);
        }
    }

    fn delete_service(&mut self, key: &NsName) {
        if let Some(old) = self.services.remove(key)
            && let Some(ip) = old.cluster_ip
            && self.service_by_ip.get(&ip) == Some(key)
        {
            self.service_by_ip.remove(&ip);
        }
    }

    /// The Service whose ClusterIP is `ip`.
    pub fn service_at(&self, ip: IpAddr) -> Option<&ServiceInfo> {
        self.service_by_ip
            .get(&ip)
            .and_then(|k| self.services.get(k))
    }

    /// Whether a Pod, Node or Service already uses `ip`.
    pub fn address_in_use(&self, ip: IpAddr) -> bool {
        self.pod_by_ip.contains_key(&ip)
            || self.node_by_ip.contains_key(&ip)
            || self.service_by_ip.contains_key(&ip)
    }

    fn delete_node(&mut self, name: &str) {
        if let Some(old) = self.nodes.remove(name) {
            for ip in old.ips {
                if self.node_by_ip.get(&ip).map(String::as_str) == Some(name) {
                    self.node_by_ip.remove(&ip);
                }
            }
        }
    }

    /// The non-hostNetwork Pod that owns `ip`.
    pub fn pod_at(&self, ip: IpAddr) -> Option<&PodInfo> {
        self.pod_by_ip.get(&ip).and_then(|k| self.pods.get(k))
    }

    /// The Node that owns `ip`.
    pub fn node_at(&self, ip: IpAddr) -> Option<&NodeInfo> {
        self.node_by_ip.get(&ip).and_then(|n| self.nodes.get(n))
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodInfo> {
        self.pods.get(&(namespace.to_string(), name.to_string()))
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceInfo> {
        self.services
            .get(&(namespace.to_string(), name.to_string()))
    }

    pub fn namespace_labels(&self, namespace: &str) -> Option<&StringMap> {
        self.namespaces.get(namespace)
    }

    /// Backends of a Service: Pods in its namespace matched by its selector (none without selector).
    pub fn service_backends<'a>(
        &'a self,
        svc: &'a ServiceInfo,
    ) -> impl Iterator<Item = &'a PodInfo> {
        let selector = svc.selector.as_ref();
        self.pods
            .range((svc.namespace.clone(), String::new())..)
            .take_while(move |((ns, _), _)| *ns == svc.namespace)
            .filter_map(move |(_, p)| {
                let sel = selector?;
                (p.ip.is_some() && sel.iter().all(|(k, v)| p.labels.get(k) == Some(v))).then_some(p)
            })
    }

    /// Addresses a DNS name resolves to: the engine's DNS table, then cluster DNS
    /// (`<svc>.<ns>.svc.cluster.local`: ClusterIP, or backend Pod IPs for headless Services).
    pub fn resolve_dns(&self, name: &str) -> Vec<IpAddr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(ips) = self.dns.get(&name) {
            return ips.clone();
        }
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() >= 3
            && parts[2] == "svc"
            && let Some(svc) = self.service(parts[1], parts[0])
        {
            return match svc.cluster_ip {
                Some(ip) => vec![ip],
                None => self.service_backends(svc).filter_map(|p| p.ip).collect(),
            };
        }
        Vec::new()
    }

    /// Every DNS name the engine can resolve (cluster DNS names of Services plus the DNS table),
    /// with its addresses; used to match FQDN peers against addresses.
    pub fn dns_names(&self) -> Vec<(String, Vec<IpAddr>)> {
        let mut out: Vec<(String, Vec<IpAddr>)> = self
            .dns
            .iter()
            .map(|(n, ips)| (n.clone(), ips.clone()))
            .collect();
        for svc in self.services.values() {
            let name = format!("{}.{}.svc.cluster.local", svc.name, svc.namespace);
            if !self.dns.contains_key(&name) {
                let ips = self.resolve_dns(&name);
                out.push((name, ips));
            }
        }
        out
    }
}

fn ns_name(key: &ObjectKey) -> NsName {
    (
        key.namespace.clone().unwrap_or_else(|| "default".into()),
        key.name.clone(),
    )
}

fn pod_info(pod: &tierwall_model::k8s::Pod, nodes: &BTreeMap<String, NodeInfo>) -> PodInfo {
    let node = pod
        .spec
        .node_name
        .clone()
        .unwrap_or_else(|| "node-0".to_string());
    let host_network = pod.spec.host_network;
    let ip = if host_network {
        nodes.get(&node).and_then(|n| n.ips.first().copied())
    } else {
        pod.status.as_ref().and_then(|s| {
            s.pod_ip
                .as_deref()
                .or(s.pod_i_ps.first().map(|p| p.ip.as_str()))
                .and_then(|ip| ip.parse().ok())
        })
    };
    let ports = pod
        .spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter())
        .filter_map(|p| {
            Some(NamedPort {
                name: p.name.clone(),
                port: u16::try_from(p.container_port).ok()?,
                protocol: L4Protocol::parse(p.protocol.as_deref())?,
            })
        })
        .collect();
    PodInfo {
        namespace: pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: pod.metadata.name.clone(),
        labels: pod.metadata.labels.clone(),
        ip,
        node,
        service_account: pod
            .spec
            .service_account_name
            .clone()
            .or_else(|| pod.spec.service_account.clone())
            .unwrap_or_else(|| "default".into()),
        host_network,
        ports,
    }
}

fn node_info(node: &tierwall_model::k8s::Node) -> NodeInfo {
    let mut ips: Vec<IpAddr> = node
        .status
        .addresses
        .iter()
        .filter_map(|a| a.address.parse().ok())
        .collect();
    if let Some(extra) = node.metadata.annotations.get(NODE_EXTRA_IPS_ANNOTATION) {
        ips.extend(
            extra
                .split(',')
                .filter_map(|s| s.trim().parse::<IpAddr>().ok()),
        );
    }
    let mut seen = BTreeSet::new();
    ips.retain(|ip| seen.insert(*ip));
    NodeInfo {
        name: node.metadata.name.clone(),
        labels: node.metadata.labels.clone(),
        ips,
    }
}

fn service_info(svc: &tierwall_model::k8s::Service) -> ServiceInfo {
    let spec = &svc.spec;
    ServiceInfo {
        namespace: svc
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: svc.metadata.name.clone(),
        service_type: spec.type_.clone().unwrap_or_else(|| "ClusterIP".into()),
        cluster_ip: spec.cluster_ip.as_deref().and_then(|ip| ip.parse().ok()),
        selector: spec.selector.clone(),
        ports: spec
            .ports
            .iter()
            .filter_map(|p| {
                Some(ServicePortInfo {
                    name: p.name.clone(),
                    port: u16::try_from(p.port).ok()?,
                    protocol: L4Protocol::parse(p.protocol.as_deref())?,
                    target_port: p.target_port.clone(),
                    node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
                })
            })
            .collect(),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// Parses a CIDR the way Go's `net.ParseCIDR` does (host bits allowed, then masked).
pub fn parse_cidr(text: &str) -> Option<IpNet> {
    text.trim().parse::<IpNet>().ok().map(|n| n.trunc())
}
