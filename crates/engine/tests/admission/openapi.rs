//! §1.5 OpenAPI constraints of ACNP/ANNP and Tier, row by row.

use crate::support::*;

#[test]
fn table() {
    let store = Store::new();
    let cases: Vec<(&str, String, Want)> = vec![
        (
            "priority 1",
            acnp(&format!(r#"{{"priority":1,{AT}}}"#)),
            None,
        ),
        (
            "priority 10000",
            acnp(&format!(r#"{{"priority":10000,{AT}}}"#)),
            None,
        ),
        (
            "priority 0",
            acnp(&format!(r#"{{"priority":0,{AT}}}"#)),
            Some((
                "spec.priority",
                "Invalid value: 0: spec.priority in body should be greater than or equal to 1",
            )),
        ),
        (
            "priority 0.5",
            acnp(&format!(r#"{{"priority":0.5,{AT}}}"#)),
            Some((
                "spec.priority",
                "Invalid value: 0.5: spec.priority in body should be greater than or equal to 1",
            )),
        ),
        (
            "priority 10001",
            acnp(&format!(r#"{{"priority":10001,{AT}}}"#)),
            Some((
                "spec.priority",
                "Invalid value: 10001: spec.priority in body should be less than or equal to 10000",
            )),
        ),
        (
            "action Deny",
            with_at(r#""ingress":[{"action":"Deny"}]"#),
            Some((
                "spec.ingress[0].action",
                r#"Unsupported value: "Deny": supported values: "Allow", "Drop", "Reject", "Pass""#,
            )),
        ),
        (
            "protocol ICMP",
            with_at(r#""ingress":[{"action":"Drop","ports":[{"protocol":"ICMP"}]}]"#),
            Some((
                "spec.ingress[0].ports[0].protocol",
                r#"Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP""#,
            )),
        ),
        (
            "protocol SCTP",
            with_at(r#""ingress":[{"action":"Drop","ports":[{"protocol":"SCTP","port":80}]}]"#),
            None,
        ),
        (
            "icmpType 256",
            with_at(r#""egress":[{"action":"Drop","protocols":[{"icmp":{"icmpType":256}}]}]"#),
            Some((
                "spec.egress[0].protocols[0].icmp.icmpType",
                "Invalid value: 256: spec.egress[0].protocols[0].icmp.icmpType in body should be less than or equal to 255",
            )),
        ),
        (
            "icmpCode -1",
            with_at(
                r#""egress":[{"action":"Drop","protocols":[{"icmp":{"icmpType":8,"icmpCode":-1}}]}]"#,
            ),
            Some((
                "spec.egress[0].protocols[0].icmp.icmpCode",
                "Invalid value: -1: spec.egress[0].protocols[0].icmp.icmpCode in body should be greater than or equal to 0",
            )),
        ),
        (
            "icmp 8/0",
            with_at(
                r#""egress":[{"action":"Drop","protocols":[{"icmp":{"icmpType":8,"icmpCode":0}}]}]"#,
            ),
            None,
        ),
        (
            "ingress igmpType 0x12",
            with_at(r#""ingress":[{"action":"Drop","protocols":[{"igmp":{"igmpType":18}}]}]"#),
            Some((
                "spec.ingress[0].protocols[0].igmp.igmpType",
                r#"Unsupported value: 18: supported values: "17""#,
            )),
        ),
        (
            "egress igmpType 0x11",
            with_at(r#""egress":[{"action":"Drop","protocols":[{"igmp":{"igmpType":17}}]}]"#),
            Some((
                "spec.egress[0].protocols[0].igmp.igmpType",
                r#"Unsupported value: 17: supported values: "18", "22", "34""#,
            )),
        ),
        (
            "egress igmpType 0x16",
            with_at(
                r#""egress":[{"action":"Drop","protocols":[{"igmp":{"igmpType":22,"groupAddress":"225.1.2.3"}}]}]"#,
            ),
            None,
        ),
        (
            "namespaces match Other",
            with_at(r#""ingress":[{"action":"Drop","from":[{"namespaces":{"match":"Other"}}]}]"#),
            Some((
                "spec.ingress[0].from[0].namespaces.match",
                r#"Unsupported value: "Other": supported values: "Self""#,
            )),
        ),
        (
            "namespaces {}",
            with_at(r#""ingress":[{"action":"Drop","from":[{"namespaces":{}}]}]"#),
            Some((
                "spec.ingress[0].from[0].namespaces",
                "Invalid value: 0: spec.ingress[0].from[0].namespaces in body should have at least 1 properties",
            )),
        ),
        (
            "peer serviceAccount without namespace",
            with_at(r#""ingress":[{"action":"Drop","from":[{"serviceAccount":{"name":"sa"}}]}]"#),
            Some((
                "spec.ingress[0].from[0].serviceAccount.namespace",
                "Required value",
            )),
        ),
        (
            "appliedTo service without name",
            acnp(r#"{"priority":1,"appliedTo":[{"service":{"namespace":"x"}}]}"#),
            Some(("spec.appliedTo[0].service.name", "Required value")),
        ),
        (
            "appliedTo serviceAccount ok",
            acnp(
                r#"{"priority":1,"appliedTo":[{"serviceAccount":{"name":"sa","namespace":"x"}}]}"#,
            ),
            None,
        ),
        (
            "toServices without name",
            with_at(r#""egress":[{"action":"Drop","toServices":[{"namespace":"x"}]}]"#),
            Some(("spec.egress[0].toServices[0].name", "Required value")),
        ),
        (
            "ACNP toServices without namespace",
            with_at(r#""egress":[{"action":"Drop","toServices":[{"name":"s"}]}]"#),
            Some(("spec.egress[0].toServices[0].namespace", "Required value")),
        ),
        (
            "ANNP toServices without namespace",
            annp(
                r#"{"priority":1,"appliedTo":[{"podSelector":{}}],"egress":[{"action":"Drop","toServices":[{"name":"s"}]}]}"#,
            ),
            None,
        ),
        (
            "logLabel -bad",
            with_at(r#""ingress":[{"action":"Drop","logLabel":"-bad"}]"#),
            Some((
                "spec.ingress[0].logLabel",
                r#"Invalid value: "-bad": spec.ingress[0].logLabel in body should match '^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'"#,
            )),
        ),
        (
            "logLabel ok",
            with_at(
                r#""ingress":[{"action":"Drop","enableLogging":true,"logLabel":"my-label_1.x"}]"#,
            ),
            None,
        ),
        (
            "http method",
            with_at(
                r#""ingress":[{"action":"Allow","l7Protocols":[{"http":{"method":"FETCH"}}]}]"#,
            ),
            Some((
                "spec.ingress[0].l7Protocols[0].http.method",
                r#"Unsupported value: "FETCH": supported values: "GET", "POST", "PUT", "HEAD", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH""#,
            )),
        ),
        (
            "tier priority 256",
            tier("t", 256),
            Some((
                "spec.priority",
                "Invalid value: 256: spec.priority in body should be less than or equal to 255",
            )),
        ),
        (
            "tier priority -1",
            tier("t", -1),
            Some((
                "spec.priority",
                "Invalid value: -1: spec.priority in body should be greater than or equal to 0",
            )),
        ),
        ("tier priority 0", tier("t", 0), None),
    ];
    run(&store, &FeatureGates::default(), &cases);
}
