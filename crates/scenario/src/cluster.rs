//! The standard scenario cluster (3 Nodes, namespaces x/y/z, Pods a/b/c in each) and the merge
//! of a file's `cluster:` overrides into it, producing the Kubernetes objects to apply.

use crate::format::{
    ClusterOverrides, Labels, NamespaceSpec, NodeSpec, PodSpec, PortSpec, ServiceSpec,
};
use std::collections::BTreeMap;
use tierwall_engine::cluster::NODE_EXTRA_IPS_ANNOTATION;
use tierwall_model::k8s::{
    Container, ContainerPort, Namespace, Node, NodeAddress, NodeSpec as K8sNodeSpec, NodeStatus,
    Pod, PodSpec as K8sPodSpec, PodStatus, Service, ServiceAccount, ServicePort,
    ServiceSpec as K8sServiceSpec,
};
use tierwall_model::{IntOrString, Object, ObjectMeta};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The ports every standard Pod serves: 80 and 81 over TCP, UDP and SCTP (`serve-<port>-<proto>`),
/// and TCP 80, 81, 8080-8085 as `serve-<port>`.
pub fn standard_ports() -> Vec<PortSpec> {
    let mut ports = Vec::new();
    for port in [80u16, 81] {
        for proto in ["TCP", "UDP", "SCTP"] {
            ports.push(PortSpec {
                name: Some(format!("serve-{port}-{}", proto.to_ascii_lowercase())),
                container_port: port,
                protocol: Some(proto.to_string()),
            });
        }
    }
    for port in [80u16, 81, 8080, 8081, 8082, 8083, 8084, 8085] {
        ports.push(PortSpec {
            name: Some(format!("serve-{port}")),
            container_port: port,
            protocol: Some("TCP".into()),
        });
    }
    ports
}

/// The cluster description after merging overrides.
#[derive(Debug, Clone, Default)]
pub struct ClusterModel {
    pub nodes: Vec<NodeSpec>,
    pub namespaces: Vec<NamespaceSpec>,
    pub pods: Vec<PodSpec>,
    pub services: Vec<ServiceSpec>,
    pub service_accounts: Vec<(String, String)>,
    /// External address name → IP.
    pub externals: BTreeMap<String, String>,
}

impl ClusterModel {
    /// The standard cluster of FORMAT.md.
    pub fn standard() -> Self {
        let mut m = ClusterModel::default();
        let node_ips = ["172.18.0.2", "172.18.0.3", "172.18.0.4"];
        for (i, ip) in node_ips.iter().enumerate() {
            let name = format!("node-{i}");
            let mut l = labels(&[
                ("kubernetes.io/hostname", &name),
                ("kubernetes.io/os", "linux"),
            ]);
            if i == 0 {
                l.insert(
                    "node-role.kubernetes.io/control-plane".into(),
                    String::new(),
                );
            }
            m.nodes.push(NodeSpec {
                name,
                ip: Some(ip.to_string()),
                labels: Some(l),
                ..Default::default()
            });
        }
        for (n, ns) in ["x", "y", "z"].iter().enumerate() {
            m.namespaces.push(NamespaceSpec {
                name: ns.to_string(),
                labels: Some(labels(&[("ns", ns), ("kubernetes.io/metadata.name", ns)])),
                annotations: None,
            });
            for (p, pod) in ["a", "b", "c"].iter().enumerate() {
                m.pods.push(PodSpec {
                    namespace: ns.to_string(),
                    name: pod.to_string(),
                    labels: Some(labels(&[("pod", pod), ("app", pod)])),
                    ip: Some(format!("10.10.{}.{}", n + 1, 11 + p)),
                    node: Some(format!("node-{p}")),
                    service_account: Some("default".into()),
                    host_network: None,
                    ports: None,
                });
            }
        }
        m
    }

    /// The standard cluster (unless `standard: false`) with the overrides merged by key.
    pub fn from_overrides(overrides: Option<&ClusterOverrides>) -> Self {
        let Some(o) = overrides else {
            return Self::standard();
        };
        let mut m = if o.standard {
            Self::standard()
        } else {
            ClusterModel::default()
        };
        for n in &o.nodes {
            match m.nodes.iter_mut().find(|x| x.name == n.name) {
                Some(x) => {
                    merge(&mut x.ip, &n.ip);
                    merge(&mut x.labels, &n.labels);
                    merge(&mut x.pod_cidr, &n.pod_cidr);
                    merge(&mut x.gateway_ip, &n.gateway_ip);
                }
                None => m.nodes.push(n.clone()),
            }
        }
        for n in &o.namespaces {
            match m.namespaces.iter_mut().find(|x| x.name == n.name) {
                Some(x) => {
                    merge(&mut x.labels, &n.labels);
                    merge(&mut x.annotations, &n.annotations);
                }
                None => m.namespaces.push(n.clone()),
            }
        }
        for p in &o.pods {
            match m
                .pods
                .iter_mut()
                .find(|x| x.namespace == p.namespace && x.name == p.name)
            {
                Some(x) => {
                    merge(&mut x.labels, &p.labels);
                    merge(&mut x.ip, &p.ip);
                    merge(&mut x.node, &p.node);
                    merge(&mut x.service_account, &p.service_account);
                    merge(&mut x.host_network, &p.host_network);
                    merge(&mut x.ports, &p.ports);
                }
                None => m.pods.push(p.clone()),
            }
        }
        for s in &o.services {
            m.services
                .retain(|x| !(x.namespace == s.namespace && x.name == s.name));
            m.services.push(s.clone());
        }
        for sa in &o.service_accounts {
            m.service_accounts
                .push((sa.namespace.clone(), sa.name.clone()));
        }
        for e in &o.externals {
            m.externals.insert(e.name.clone(), e.ip.clone());
        }
        m
    }

    /// Kubernetes objects for the model, in an order that applies cleanly
    /// (Nodes, Namespaces, ServiceAccounts, Pods, Services).
    pub fn objects(&self) -> Vec<Object> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let mut meta = meta(&n.name, None, n.labels.clone().unwrap_or_default());
            if let Some(gw) = &n.gateway_ip {
                meta.annotations
                    .insert(NODE_EXTRA_IPS_ANNOTATION.into(), gw.clone());
            }
            out.push(Object::Node(Node {
                api_version: "v1".into(),
                kind: "Node".into(),
                metadata: meta,
                spec: K8sNodeSpec {
                    pod_cidr: n.pod_cidr.clone(),
                    ..Default::default()
                },
                status: NodeStatus {
                    addresses: n
                        .ip
                        .iter()
                        .map(|ip| NodeAddress {
                            type_: "InternalIP".into(),
                            address: ip.clone(),
                        })
                        .collect(),
                    ..Default::default()
                },
            }));
        }
        for ns in &self.namespaces {
            let mut l = ns.labels.clone().unwrap_or_default();
            l.insert("kubernetes.io/metadata.name".into(), ns.name.clone());
            let mut meta = meta(&ns.name, None, l);
            meta.annotations = ns.annotations.clone().unwrap_or_default();
            out.push(Object::Namespace(Namespace {
                api_version: "v1".into(),
                kind: "Namespace".into(),
                metadata: meta,
                spec: None,
                status: None,
            }));
        }
        let mut sas: Vec<(String, String)> = self.service_accounts.clone();
        for p in &self.pods {
            sas.push((
                p.namespace.clone(),
                p.service_account
                    .clone()
                    .unwrap_or_else(|| "default".into()),
            ));
        }
        sas.sort();
        sas.dedup();
        for (ns, name) in sas {
            out.push(Object::ServiceAccount(ServiceAccount {
                api_version: "v1".into(),
                kind: "ServiceAccount".into(),
                metadata: meta(&name, Some(&ns), Labels::new()),
                secrets: None,
                image_pull_secrets: None,
                automount_service_account_token: None,
            }));
        }
        for p in &self.pods {
            out.push(Object::Pod(pod_object(p)));
        }
        for s in &self.services {
            out.push(Object::Service(service_object(s)));
        }
        out
    }
}

fn merge<T: Clone>(target: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        target.clone_from(value);
    }
}

fn meta(name: &str, namespace: Option<&str>, labels: Labels) -> ObjectMeta {
    ObjectMeta {
        name: name.into(),
        namespace: namespace.map(Into::into),
        labels,
        ..Default::default()
    }
}

fn pod_object(p: &PodSpec) -> Pod {
    let ports = p.ports.clone().unwrap_or_else(standard_ports);
    Pod {
        api_version: "v1".into(),
        kind: "Pod".into(),
        metadata: meta(
            &p.name,
            Some(&p.namespace),
            p.labels.clone().unwrap_or_default(),
        ),
        spec: K8sPodSpec {
            node_name: Some(p.node.clone().unwrap_or_else(|| "node-0".into())),
            host_network: p.host_network.unwrap_or(false),
            service_account_name: Some(
                p.service_account
                    .clone()
                    .unwrap_or_else(|| "default".into()),
            ),
            containers: vec![Container {
                name: "server".into(),
                image: Some("agnhost".into()),
                ports: ports
                    .iter()
                    .map(|port| ContainerPort {
                        name: port.name.clone(),
                        container_port: i32::from(port.container_port),
                        protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".into())),
                        host_port: None,
                        host_ip: None,
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: p.ip.as_ref().map(|ip| PodStatus {
            pod_ip: Some(ip.clone()),
            ..Default::default()
        }),
    }
}

fn service_object(s: &ServiceSpec) -> Service {
    Service {
        api_version: "v1".into(),
        kind: "Service".into(),
        metadata: meta(&s.name, Some(&s.namespace), Labels::new()),
        spec: K8sServiceSpec {
            type_: s.type_.clone(),
            cluster_ip: s.cluster_ip.clone(),
            selector: s.selector.clone(),
            ports: s
                .ports
                .iter()
                .map(|p| ServicePort {
                    name: p.name.clone(),
                    port: i32::from(p.port),
                    target_port: p.target_port.as_ref().and_then(|v| match v {
                        serde_json::Value::Number(n) => n.as_i64().map(IntOrString::Int),
                        serde_json::Value::String(s) => Some(IntOrString::String(s.clone())),
                        _ => None,
                    }),
                    protocol: p.protocol.clone(),
                    node_port: p.node_port.map(i32::from),
                    app_protocol: None,
                })
                .collect(),
            ..Default::default()
        },
        status: None,
    }
}
