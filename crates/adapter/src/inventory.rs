//! The cluster's inventory as the manager wants it: the controller's `/inventory` (namespaces,
//! pods, services, nodes, Egresses, ExternalIPPools, IPPools, Ingresses and Gateways with their
//! labels) turned into NSX container objects, every label a tag
//! `dis:k8s:<key>` / `<value>` (reported as `dis:k8s:<key>|<value>` in group criteria).

use serde_json::Value;
use std::collections::BTreeMap;
use tierwall_nsx::model::{
    AntreaEgress, AntreaIpPool, ClusterInventory, ContainerApplication,
    ContainerApplicationInstance, ContainerClusterNode, ContainerIngress, ContainerProject,
    GatewayListener, IpPoolRange, KubernetesGateway, L4Protocol, ServicePortInfo, Tag,
};

/// The inventory of `cluster_id` from the controller's `/inventory` document. Lists keep the
/// controller's order (sorted by namespace and name).
pub fn cluster_inventory(cluster_id: &str, document: &Value) -> ClusterInventory {
    let list = |field: &str| -> Vec<Value> {
        document
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let services = list("services");
    let namespaces = list("namespaces")
        .iter()
        .map(|ns| ContainerProject {
            display_name: text(ns, "name"),
            tags: tags(ns),
            ..ContainerProject::default()
        })
        .collect();
    let pods = list("pods")
        .iter()
        .map(|pod| {
            let namespace = text(pod, "namespace");
            let labels = labels(pod);
            ContainerApplicationInstance {
                display_name: text(pod, "name"),
                ip_addresses: pod
                    .get("ip")
                    .and_then(Value::as_str)
                    .filter(|ip| !ip.is_empty())
                    .map(|ip| vec![ip.to_string()])
                    .unwrap_or_default(),
                cluster_node_name: pod.get("node").and_then(Value::as_str).map(str::to_string),
                services: services
                    .iter()
                    .filter(|s| text(s, "namespace") == namespace && selects(s, &labels))
                    .map(|s| text(s, "name"))
                    .collect(),
                tags: tags(pod),
                namespace,
                ..ContainerApplicationInstance::default()
            }
        })
        .collect();
    let nodes = list("nodes")
        .iter()
        .map(|node| ContainerClusterNode {
            display_name: text(node, "name"),
            ip_addresses: node
                .get("addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))
                .filter_map(|a| a.get("address").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
            tags: tags(node),
            ..ContainerClusterNode::default()
        })
        .collect();
    let services = services
        .iter()
        .map(|s| ContainerApplication {
            display_name: text(s, "name"),
            namespace: text(s, "namespace"),
            service_type: s
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP")
                .to_string(),
            cluster_ips: s
                .get("clusterIP")
                .and_then(Value::as_str)
                .filter(|ip| !ip.is_empty() && *ip != "None")
                .map(|ip| vec![ip.to_string()])
                .unwrap_or_default(),
            ports: s
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(service_port)
                .collect(),
            tags: tags(s),
            ..ContainerApplication::default()
        })
        .collect();
    let egresses = list("egresses")
        .iter()
        .map(|e| AntreaEgress {
            display_name: text(e, "name"),
            egress_ips: strings(e, "egressIPs"),
            external_ip_pool: e
                .get("externalIPPool")
                .and_then(Value::as_str)
                .map(str::to_string),
            tags: tags(e),
            ..AntreaEgress::default()
        })
        .collect();
    let pools = |field: &str| -> Vec<AntreaIpPool> {
        list(field)
            .iter()
            .map(|p| AntreaIpPool {
                display_name: text(p, "name"),
                ip_ranges: p
                    .get("ipRanges")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|r| IpPoolRange {
                        cidr: optional_text(r, "cidr"),
                        start: optional_text(r, "start"),
                        end: optional_text(r, "end"),
                    })
                    .collect(),
                tags: tags(p),
                ..AntreaIpPool::default()
            })
            .collect()
    };
    let ingresses = list("ingresses")
        .iter()
        .map(|i| ContainerIngress {
            display_name: text(i, "name"),
            namespace: text(i, "namespace"),
            ip_addresses: strings(i, "ips"),
            tags: tags(i),
            ..ContainerIngress::default()
        })
        .collect();
    let gateways = list("gateways")
        .iter()
        .map(|g| KubernetesGateway {
            display_name: text(g, "name"),
            namespace: text(g, "namespace"),
            ip_addresses: strings(g, "ips"),
            listeners: g
                .get("listeners")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|l| {
                    Some(GatewayListener {
                        name: text(l, "name"),
                        protocol: text(l, "protocol"),
                        port: u16::try_from(l.get("port")?.as_u64()?).ok()?,
                    })
                })
                .collect(),
            tags: tags(g),
            ..KubernetesGateway::default()
        })
        .collect();
    ClusterInventory {
        cluster_id: cluster_id.to_string(),
        namespaces,
        pods,
        services,
        nodes,
        egresses,
        external_ip_pools: pools("externalIPPools"),
        ip_pools: pools("ipPools"),
        ingresses,
        gateways,
        ..ClusterInventory::default()
    }
}

fn optional_text(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_string)
}

/// A list of non-empty strings.
fn strings(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn text(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.get("labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect()
}

/// Labels as NSX tags, sorted by key.
fn tags(v: &Value) -> Vec<Tag> {
    labels(v)
        .iter()
        .map(|(k, v)| Tag::k8s_label(k, v))
        .collect()
}

/// A Service with a non-empty selector that matches `labels`.
fn selects(service: &Value, labels: &BTreeMap<String, String>) -> bool {
    let selector: BTreeMap<String, String> = service
        .get("selector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect();
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn service_port(port: &Value) -> Option<ServicePortInfo> {
    let number = u16::try_from(port.get("port")?.as_u64()?).ok()?;
    let protocol = match port.get("protocol").and_then(Value::as_str) {
        Some("UDP") => L4Protocol::Udp,
        _ => L4Protocol::Tcp,
    };
    Some(ServicePortInfo {
        name: text(port, "name"),
        protocol,
        port: number,
        node_port: port
            .get("nodePort")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_become_dis_k8s_tags_and_services_are_linked_to_their_pods() {
        let doc = json!({
            "namespaces": [{"name": "shop", "labels": {"kubernetes.io/metadata.name": "shop"}}],
            "nodes": [{"name": "n0", "labels": {}, "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}],
            "pods": [{"namespace": "shop", "name": "web-0", "labels": {"app": "web"}, "node": "n0", "ip": "10.0.0.5"},
                     {"namespace": "shop", "name": "db-0", "labels": {"app": "db"}, "node": "n0", "ip": "10.0.0.6"}],
            "services": [{"namespace": "shop", "name": "web", "labels": {}, "type": "NodePort", "clusterIP": "10.96.0.10",
                          "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}],
        });
        let inv = cluster_inventory("c1", &doc);
        assert_eq!(inv.cluster_id, "c1");
        let web = &inv.pods[0];
        assert_eq!(web.tags, vec![Tag::new("dis:k8s:app", "web")]);
        assert_eq!(web.services, vec!["web".to_string()]);
        assert!(inv.pods[1].services.is_empty());
        assert_eq!(inv.nodes[0].ip_addresses, vec!["172.18.0.2".to_string()]);
        assert_eq!(inv.services[0].ports[0].node_port, Some(30080));
        assert_eq!(
            inv.namespaces[0].tags[0].scope,
            "dis:k8s:kubernetes.io/metadata.name"
        );
        assert!(inv.egresses.is_empty() && inv.gateways.is_empty());
    }

    #[test]
    fn egresses_pools_ingresses_and_gateways_are_reported_with_their_ips() {
        let doc = json!({
            "egresses": [{"name": "eg", "labels": {"team": "blue"}, "egressIPs": ["10.10.0.1", "10.10.0.2"], "externalIPPool": "pool"}],
            "externalIPPools": [{"name": "pool", "labels": {}, "ipRanges": [{"start": "10.10.0.1", "end": "10.10.0.9"}, {"cidr": "10.11.0.0/24"}]}],
            "ipPools": [{"name": "pods", "labels": {}, "ipRanges": [{"cidr": "10.12.0.0/24"}]}],
            "ingresses": [{"namespace": "shop", "name": "web", "labels": {}, "ips": ["192.0.2.10"]}],
            "gateways": [{"namespace": "shop", "name": "gw", "labels": {"app": "gw"}, "ips": ["192.0.2.20"],
                          "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}],
        });
        let inv = cluster_inventory("c1", &doc);
        let eg = &inv.egresses[0];
        assert_eq!(eg.egress_ips, vec!["10.10.0.1", "10.10.0.2"]);
        assert_eq!(eg.external_ip_pool.as_deref(), Some("pool"));
        assert_eq!(eg.tags, vec![Tag::new("dis:k8s:team", "blue")]);
        let pool = &inv.external_ip_pools[0];
        assert_eq!(pool.ip_ranges[0].start.as_deref(), Some("10.10.0.1"));
        assert_eq!(pool.ip_ranges[0].end.as_deref(), Some("10.10.0.9"));
        assert_eq!(pool.ip_ranges[1].cidr.as_deref(), Some("10.11.0.0/24"));
        assert_eq!(inv.ip_pools[0].display_name, "pods");
        assert_eq!(inv.ingresses[0].ip_addresses, vec!["192.0.2.10"]);
        assert_eq!(inv.ingresses[0].namespace, "shop");
        let gw = &inv.gateways[0];
        assert_eq!(gw.ip_addresses, vec!["192.0.2.20"]);
        assert_eq!(
            (gw.listeners[0].port, gw.listeners[0].protocol.as_str()),
            (80, "HTTP")
        );
    }
}
