//! Admission never panics, whatever strings reach it (property test).

use crate::support::*;
use proptest::prelude::*;
use serde_json::json;
use tierwall_model::load::object_from_value;

fn admit_value(kind: Kind, value: serde_json::Value) {
    if let Ok(mut o) = object_from_value(kind, value) {
        o.normalize_type_meta();
        let _ = admit_apply_with(
            &Store::new(),
            o,
            &FeatureGates {
                l7_network_policy: true,
                cluster_network_policy: true,
            },
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn no_panic(s in "\\PC{0,24}", t in "[0-9a-f:./]{0,20}", n in any::<i32>(), m in any::<i64>()) {
        admit_value(Kind::ClusterNetworkPolicy, json!({
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": s, "labels": {s.clone(): t}},
            "spec": {"priority": n, "tier": s, "appliedTo": [{"podSelector": {"matchLabels": {s.clone(): s}}, "service": {"name": s}}],
                "ingress": [{"action": s, "name": s, "logLabel": s, "ports": [{"protocol": s, "port": m, "endPort": n, "sourcePort": n, "sourceEndPort": n}],
                    "protocols": [{"icmp": {"icmpType": n, "icmpCode": n}}, {"igmp": {"igmpType": n, "groupAddress": t}}],
                    "l7Protocols": [{"http": {"method": s}}],
                    "from": [{"ipBlock": {"cidr": t, "except": [t, s]}, "namespaces": {"match": s, "sameLabels": [s]}, "group": s}]}],
                "egress": [{"action": "Allow", "to": [{"fqdn": s, "ipBlock": {"cidr": t}}], "toServices": [{"name": s}]}]}
        }));
        admit_value(Kind::NetworkPolicy, json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": s, "namespace": s},
            "spec": {"podSelector": {"matchExpressions": [{"key": s, "operator": s, "values": [s]}]}, "policyTypes": [s],
                "ingress": [{"ports": [{"port": s, "endPort": n}, {"port": m}], "from": [{"ipBlock": {"cidr": t, "except": [t]}}]}]}
        }));
        admit_value(Kind::ClusterGroup, json!({
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterGroup", "metadata": {"name": s},
            "spec": {"ipBlocks": [{"cidr": t}], "childGroups": [s]}
        }));
        admit_value(Kind::Tier, json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier", "metadata": {"name": s}, "spec": {"priority": n}}));
        admit_value(Kind::Service, json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": s, "namespace": "x"},
            "spec": {"clusterIP": t, "ports": [{"port": n, "targetPort": s, "nodePort": n}]}}));
        admit_value(Kind::Pod, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": s, "namespace": "x"}, "status": {"podIP": t}}));
    }
}
