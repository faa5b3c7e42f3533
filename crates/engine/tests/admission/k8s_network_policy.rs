//! Kubernetes NetworkPolicy API validation and defaulting.

use crate::support::*;
use tierwall_model::k8s::NetworkPolicy;

#[test]
fn table() {
    let store = Store::new();
    let key_msg =
        Box::leak(format!("Invalid value: \"bad key\": {NAME_PART}").into_boxed_str()) as &str;
    let cases: Vec<(&str, String, Want)> = vec![
        (
            "deny all",
            netpol(r#"{"podSelector":{},"policyTypes":["Ingress","Egress"]}"#),
            None,
        ),
        (
            "policyType",
            netpol(r#"{"podSelector":{},"policyTypes":["Ingress","Foo"]}"#),
            Some((
                "spec.policyTypes[1]",
                r#"Unsupported value: "Foo": supported values: "Ingress", "Egress""#,
            )),
        ),
        (
            "three policyTypes",
            netpol(r#"{"podSelector":{},"policyTypes":["Ingress","Egress","Ingress"]}"#),
            Some((
                "spec.policyTypes",
                r#"Invalid value: []networking.PolicyType{"Ingress", "Egress", "Ingress"}: may not specify more than two policyTypes"#,
            )),
        ),
        (
            "protocol",
            netpol(r#"{"podSelector":{},"ingress":[{"ports":[{"protocol":"ICMP"}]}]}"#),
            Some((
                "spec.ingress[0].ports[0].protocol",
                r#"Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP""#,
            )),
        ),
        (
            "port 0",
            netpol(r#"{"podSelector":{},"ingress":[{"ports":[{"port":0}]}]}"#),
            Some((
                "spec.ingress[0].ports[0].port",
                "Invalid value: 0: must be between 1 and 65535, inclusive",
            )),
        ),
        (
            "port 65536",
            netpol(r#"{"podSelector":{},"egress":[{"ports":[{"port":65536}]}]}"#),
            Some((
                "spec.egress[0].ports[0].port",
                "Invalid value: 65536: must be between 1 and 65535, inclusive",
            )),
        ),
        (
            "port name",
            netpol(r#"{"podSelector":{},"ingress":[{"ports":[{"port":"a--b"}]}]}"#),
            Some((
                "spec.ingress[0].ports[0].port",
                r#"Invalid value: "a--b": must not contain consecutive hyphens"#,
            )),
        ),
        (
            "port name ok",
            netpol(r#"{"podSelector":{},"ingress":[{"ports":[{"port":"serve-80-tcp"}]}]}"#),
            None,
        ),
        (
            "endPort < port",
            netpol(r#"{"podSelector":{},"ingress":[{"ports":[{"port":80,"endPort":79}]}]}"#),
            Some((
                "spec.ingress[0].ports[0].endPort",
                "Invalid value: 80: must be greater than or equal to `port`",
            )),
        ),
        (
            "endPort = port",
            netpol(r#"{"podSelector":{},"ingress":[{"ports":[{"port":80,"endPort":80}]}]}"#),
            None,
        ),
        (
            "endPort named port",
            netpol(r#"{"podSelector":{},"ingress":[{"ports":[{"port":"http","endPort":90}]}]}"#),
            Some((
                "spec.ingress[0].ports[0].endPort",
                "Invalid value: 90: may not be specified when `port` is non-numeric",
            )),
        ),
        (
            "endPort without port",
            netpol(r#"{"podSelector":{},"egress":[{"ports":[{"endPort":90}]}]}"#),
            Some((
                "spec.egress[0].ports[0].endPort",
                "Invalid value: 90: may not be specified when `port` is not specified",
            )),
        ),
        (
            "endPort too big",
            netpol(r#"{"podSelector":{},"egress":[{"ports":[{"port":80,"endPort":70000}]}]}"#),
            Some((
                "spec.egress[0].ports[0].endPort",
                "Invalid value: 70000: must be between 1 and 65535, inclusive",
            )),
        ),
        (
            "egress peers before ports",
            netpol(r#"{"podSelector":{},"egress":[{"ports":[{"port":0}],"to":[{}]}]}"#),
            Some((
                "spec.egress[0].to[0]",
                "Required value: must specify a peer",
            )),
        ),
        (
            "bad cidr",
            netpol(r#"{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0"}}]}]}"#),
            Some((
                "spec.ingress[0].from[0].ipBlock.cidr",
                r#"Invalid value: "10.0.0.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"#,
            )),
        ),
        (
            "empty cidr",
            netpol(r#"{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":""}}]}]}"#),
            Some(("spec.ingress[0].from[0].ipBlock.cidr", "Required value")),
        ),
        (
            "except outside",
            netpol(
                r#"{"podSelector":{},"egress":[{"to":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["11.0.0.0/16"]}}]}]}"#,
            ),
            Some((
                "spec.egress[0].to[0].ipBlock.except[0]",
                "Invalid value: \"11.0.0.0/16\": must be a strict subset of `cidr`",
            )),
        ),
        (
            "host bits",
            netpol(
                r#"{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.244.1.10/4","except":["10.244.1.10/32"]}}]}]}"#,
            ),
            None,
        ),
        (
            "ipBlock + selector",
            netpol(
                r#"{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8"},"podSelector":{}}]}]}"#,
            ),
            Some((
                "spec.ingress[0].from[0]",
                "Forbidden: may not specify both ipBlock and another peer",
            )),
        ),
        (
            "pod + ns selector",
            netpol(
                r#"{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{},"podSelector":{}}]}]}"#,
            ),
            None,
        ),
        (
            "label key",
            netpol(r#"{"podSelector":{"matchLabels":{"bad key":"v"}}}"#),
            Some(("spec.podSelector.matchLabels", key_msg)),
        ),
        (
            "operator",
            netpol(
                r#"{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"k","operator":"Bogus"}]}}]}]}"#,
            ),
            Some((
                "spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].operator",
                r#"Invalid value: "Bogus": not a valid selector operator"#,
            )),
        ),
        (
            "In without values",
            netpol(r#"{"podSelector":{"matchExpressions":[{"key":"k","operator":"In"}]}}"#),
            Some((
                "spec.podSelector.matchExpressions[0].values",
                "Required value: must be specified when `operator` is 'In' or 'NotIn'",
            )),
        ),
        (
            "Exists with values",
            netpol(
                r#"{"podSelector":{"matchExpressions":[{"key":"k","operator":"Exists","values":["v"]}]}}"#,
            ),
            Some((
                "spec.podSelector.matchExpressions[0].values",
                "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
        ),
        (
            "expression value",
            netpol(
                r#"{"podSelector":{"matchExpressions":[{"key":"k","operator":"NotIn","values":["ok","bad value"]}]}}"#,
            ),
            Some((
                "spec.podSelector.matchExpressions[0].values[1]",
                Box::leak(format!("Invalid value: \"bad value\": {LABEL_VALUE}").into_boxed_str()),
            )),
        ),
        (
            "NotIn name",
            netpol(
                r#"{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["x"]}]}}]}]}"#,
            ),
            None,
        ),
    ];
    run(&store, &FeatureGates::default(), &cases);
}

fn defaulted(text: &str) -> NetworkPolicy {
    match admit_apply(&Store::new(), object(text)).map(|a| a.object) {
        Ok(Object::NetworkPolicy(np)) => np,
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults() {
    let np = defaulted(&netpol(
        r#"{"podSelector":{},"ingress":[{"ports":[{"port":80}]}],"egress":[{}]}"#,
    ));
    assert_eq!(
        np.spec.policy_types,
        Some(vec!["Ingress".to_string(), "Egress".to_string()])
    );
    assert_eq!(
        np.spec.ingress.unwrap()[0].ports[0].protocol.as_deref(),
        Some("TCP")
    );
    let np = defaulted(&netpol(r#"{"podSelector":{},"egress":[]}"#));
    assert_eq!(np.spec.policy_types, Some(vec!["Ingress".to_string()]));
    let np = defaulted(&netpol(r#"{"podSelector":{},"policyTypes":["Egress"]}"#));
    assert_eq!(np.spec.policy_types, Some(vec!["Egress".to_string()]));
}
