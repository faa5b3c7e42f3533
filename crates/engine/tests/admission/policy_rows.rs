//! §1.2 ACNP/ANNP validation, rows 1–45 and W: one table of an accepted and a rejected case
//! per reachable row, with the exact webhook messages.

use crate::support::*;

fn l7_on() -> FeatureGates {
    FeatureGates {
        l7_network_policy: true,
        ..Default::default()
    }
}

#[test]
fn table() {
    let mut store = Store::new();
    apply(&mut store, &tier("mytier", 20)).unwrap();
    let key_msg =
        Box::leak(format!("Invalid label key: bad key: {NAME_PART}").into_boxed_str()) as &str;
    let value_msg =
        Box::leak(format!("Invalid label value: bad value: {LABEL_VALUE}").into_boxed_str())
            as &str;
    let svc_at = r#""appliedTo":[{"service":{"name":"s","namespace":"x"}}]"#;
    let cases: Vec<(&str, String, Want)> = vec![
        // 1
        (
            "1 tier missing",
            acnp(&format!(r#"{{"priority":1,"tier":"no-exist",{AT}}}"#)),
            Some(("spec.tier", "tier no-exist does not exist")),
        ),
        (
            "1 user tier",
            acnp(&format!(r#"{{"priority":1,"tier":"mytier",{AT}}}"#)),
            None,
        ),
        (
            "1 legacy name",
            acnp(&format!(r#"{{"priority":1,"tier":"SecurityOps",{AT}}}"#)),
            None,
        ),
        (
            "1 system tier",
            acnp(&format!(r#"{{"priority":1,"tier":"platform",{AT}}}"#)),
            None,
        ),
        (
            "1 ANNP tier missing",
            annp(&format!(r#"{{"priority":1,"tier":"nope",{AT}}}"#)),
            Some(("spec.tier", "tier nope does not exist")),
        ),
        // 2
        (
            "2 baseline pass",
            acnp(&format!(
                r#"{{"priority":1,"tier":"baseline",{AT},"egress":[{{"action":"Drop"}},{{"action":"Pass"}}]}}"#
            )),
            Some((
                "spec.egress[1].action",
                "`Pass` action should not be set for Baseline Tier policy rules",
            )),
        ),
        (
            "2 Baseline pass",
            acnp(&format!(
                r#"{{"priority":1,"tier":"Baseline",{AT},"ingress":[{{"action":"Pass"}}]}}"#
            )),
            Some((
                "spec.ingress[0].action",
                "`Pass` action should not be set for Baseline Tier policy rules",
            )),
        ),
        (
            "2 baseline drop",
            acnp(&format!(
                r#"{{"priority":1,"tier":"baseline",{AT},"ingress":[{{"action":"Drop"}}]}}"#
            )),
            None,
        ),
        // 3
        (
            "3 duplicate names",
            with_at(
                r#""ingress":[{"action":"Drop","name":"r"}],"egress":[{"action":"Drop","name":"r"}]"#,
            ),
            Some((
                "spec.egress[0].name",
                "rules names must be unique within the policy",
            )),
        ),
        (
            "3 duplicate unnamed rules",
            with_at(r#""ingress":[{"action":"Drop"},{"action":"Drop"}]"#),
            Some((
                "spec.ingress[1].name",
                "rules names must be unique within the policy",
            )),
        ),
        (
            "3 distinct",
            with_at(r#""ingress":[{"action":"Drop","name":"a"},{"action":"Drop"}]"#),
            None,
        ),
        // 4
        (
            "4 both",
            with_at(r#""ingress":[{"action":"Drop","appliedTo":[{"podSelector":{}}]}]"#),
            Some((
                "spec.ingress[0].appliedTo",
                "appliedTo should not be set in both spec and rules",
            )),
        ),
        // 5
        (
            "5 none",
            acnp(r#"{"priority":1,"ingress":[{"action":"Drop"}]}"#),
            Some((
                "spec.appliedTo",
                "appliedTo needs to be set in either spec or rules",
            )),
        ),
        (
            "5 rules only",
            acnp(
                r#"{"priority":1,"ingress":[{"action":"Drop","appliedTo":[{"podSelector":{}}]}]}"#,
            ),
            None,
        ),
        // 6
        (
            "6 some rules",
            acnp(
                r#"{"priority":1,"ingress":[{"action":"Drop","appliedTo":[{"podSelector":{}}]}],"egress":[{"action":"Drop"}]}"#,
            ),
            Some((
                "spec.egress[0].appliedTo",
                "appliedTo field should either be set in all rules or in none of them",
            )),
        ),
        // 7
        (
            "7 group + podSelector",
            acnp(r#"{"priority":1,"appliedTo":[{"group":"g","podSelector":{}}]}"#),
            Some((
                "spec.appliedTo[0]",
                "group cannot be set with other peers in appliedTo",
            )),
        ),
        (
            "7 group",
            acnp(r#"{"priority":1,"appliedTo":[{"group":"g"}]}"#),
            None,
        ),
        // 8
        (
            "8 nodeSelector + podSelector",
            acnp(r#"{"priority":1,"appliedTo":[{"nodeSelector":{},"podSelector":{}}]}"#),
            Some((
                "spec.appliedTo[0]",
                "nodeSelector cannot be set with other peers in appliedTo",
            )),
        ),
        (
            "8 nodeSelector",
            acnp(r#"{"priority":1,"appliedTo":[{"nodeSelector":{}}]}"#),
            None,
        ),
        // 9
        (
            "9 serviceAccount + podSelector",
            acnp(
                r#"{"priority":1,"appliedTo":[{"serviceAccount":{"name":"a","namespace":"x"},"podSelector":{}}]}"#,
            ),
            Some((
                "spec.appliedTo[0]",
                "serviceAccount cannot be set with other peers in appliedTo",
            )),
        ),
        // 10
        (
            "10 service + namespaceSelector",
            acnp(
                r#"{"priority":1,"appliedTo":[{"service":{"name":"s","namespace":"x"},"namespaceSelector":{}}]}"#,
            ),
            Some((
                "spec.appliedTo[0]",
                "service cannot be set with other peers in appliedTo",
            )),
        ),
        // 11
        (
            "11 service with egress rules",
            acnp(&format!(
                r#"{{"priority":1,{svc_at},"egress":[{{"action":"Drop"}}]}}"#
            )),
            Some((
                "spec.appliedTo[0].service",
                "egress rule cannot be applied to Services",
            )),
        ),
        (
            "11 service ingress only",
            acnp(&format!(
                r#"{{"priority":1,{svc_at},"ingress":[{{"action":"Drop","from":[{{"ipBlock":{{"cidr":"10.0.0.0/8"}}}}]}}]}}"#
            )),
            None,
        ),
        // 12, 13
        (
            "12 appliedTo label key",
            acnp(r#"{"priority":1,"appliedTo":[{"podSelector":{"matchLabels":{"bad key":"v"}}}]}"#),
            Some(("spec.appliedTo[0].podSelector.matchLabels", key_msg)),
        ),
        (
            "13 appliedTo label value",
            acnp(
                r#"{"priority":1,"appliedTo":[{"namespaceSelector":{"matchLabels":{"k":"bad value"}}}]}"#,
            ),
            Some(("spec.appliedTo[0].namespaceSelector.matchLabels", value_msg)),
        ),
        (
            "12 prefixed key ok",
            acnp(
                r#"{"priority":1,"appliedTo":[{"nodeSelector":{"matchLabels":{"kubernetes.io/hostname":"node-0"}}}]}"#,
            ),
            None,
        ),
        // 14
        (
            "14 service and pods",
            acnp(
                r#"{"priority":1,"appliedTo":[{"service":{"name":"s","namespace":"x"}},{"podSelector":{}}]}"#,
            ),
            Some((
                "spec.appliedTo",
                "a rule/policy cannot be applied to Services and other peers at the same time",
            )),
        ),
        // 15–17
        (
            "15 namespaces + namespaceSelector",
            with_at(
                r#""ingress":[{"action":"Drop","from":[{"namespaces":{"match":"Self"},"namespaceSelector":{}}]}]"#,
            ),
            Some((
                "spec.ingress[0].from[0]",
                "namespaces and namespaceSelector cannot be set at the same time for a single NetworkPolicyPeer",
            )),
        ),
        (
            "16 match + sameLabels",
            with_at(
                r#""ingress":[{"action":"Drop","from":[{"namespaces":{"match":"Self","sameLabels":["a"]}}]}]"#,
            ),
            Some((
                "spec.ingress[0].from[0].namespaces",
                "only one matching criteria can be specified in a single peer namespaces field",
            )),
        ),
        (
            "17 sameLabels key",
            with_at(
                r#""egress":[{"action":"Drop","to":[{"namespaces":{"sameLabels":["ok","bad key"]}}]}]"#,
            ),
            Some((
                "spec.egress[0].to[0].namespaces.sameLabels[1]",
                "Invalid label key in sameLabels rule: bad key",
            )),
        ),
        (
            "17 sameLabels ok",
            with_at(
                r#""egress":[{"action":"Drop","to":[{"namespaces":{"sameLabels":["tenant","example.com/x"]}}]}]"#,
            ),
            None,
        ),
        // 18–21
        (
            "18 empty cidr",
            with_at(r#""ingress":[{"action":"Drop","from":[{"ipBlock":{"cidr":""}}]}]"#),
            Some((
                "spec.ingress[0].from[0].ipBlock.cidr",
                "field 'cidr' is required in an ipBlock",
            )),
        ),
        (
            "19 bad cidr",
            with_at(r#""ingress":[{"action":"Drop","from":[{"ipBlock":{"cidr":"192.168.5.6"}}]}]"#),
            Some((
                "spec.ingress[0].from[0].ipBlock.cidr",
                "invalid CIDR address: 192.168.5.6",
            )),
        ),
        (
            "19 host bits ok",
            with_at(
                r#""ingress":[{"action":"Drop","from":[{"ipBlock":{"cidr":"10.244.1.10/4","except":["10.244.1.10/32"]}}]}]"#,
            ),
            None,
        ),
        (
            "20 bad except",
            with_at(
                r#""egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.1.0.0/16","x"]}}]}]"#,
            ),
            Some((
                "spec.egress[0].to[0].ipBlock.except[1]",
                "invalid except CIDR value: invalid CIDR address: x",
            )),
        ),
        (
            "21 except outside",
            with_at(
                r#""egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["11.0.0.0/16"]}}]}]"#,
            ),
            Some((
                "spec.egress[0].to[0].ipBlock.except[0]",
                "except CIDR 11.0.0.0/16 is not a strict subset of CIDR 10.0.0.0/8",
            )),
        ),
        (
            "21 except equal",
            with_at(
                r#""egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.0.0.0/8"]}}]}]"#,
            ),
            Some((
                "spec.egress[0].to[0].ipBlock.except[0]",
                "except CIDR 10.0.0.0/8 is not a strict subset of CIDR 10.0.0.0/8",
            )),
        ),
        // 22–25
        (
            "22 peer group + podSelector",
            with_at(r#""ingress":[{"action":"Drop","from":[{"group":"g","podSelector":{}}]}]"#),
            Some((
                "spec.ingress[0].from[0]",
                "group cannot be set with other peers in rules",
            )),
        ),
        (
            "22 peer group",
            with_at(r#""ingress":[{"action":"Drop","from":[{"group":"g"}]}]"#),
            None,
        ),
        (
            "23 peer serviceAccount + podSelector",
            with_at(
                r#""ingress":[{"action":"Drop","from":[{"serviceAccount":{"name":"a","namespace":"x"},"podSelector":{}}]}]"#,
            ),
            Some((
                "spec.ingress[0].from[0]",
                "serviceAccount cannot be set with other peers in rules",
            )),
        ),
        (
            "24 peer nodeSelector + ipBlock",
            with_at(
                r#""egress":[{"action":"Drop","to":[{"nodeSelector":{},"ipBlock":{"cidr":"10.0.0.0/8"}}]}]"#,
            ),
            Some((
                "spec.egress[0].to[0]",
                "nodeSelector cannot be set with other peers in rules",
            )),
        ),
        (
            "25 peer label key",
            with_at(
                r#""ingress":[{"action":"Drop","from":[{"podSelector":{},"namespaceSelector":{"matchLabels":{"bad key":"v"}}}]}]"#,
            ),
            Some((
                "spec.ingress[0].from[0].namespaceSelector.matchLabels",
                key_msg,
            )),
        ),
        (
            "25 peer label value",
            with_at(
                r#""egress":[{"action":"Drop","to":[{"nodeSelector":{"matchLabels":{"k":"bad value"}}}]}]"#,
            ),
            Some(("spec.egress[0].to[0].nodeSelector.matchLabels", value_msg)),
        ),
        // 26
        (
            "26 toServices + to",
            with_at(
                r#""egress":[{"action":"Drop","toServices":[{"name":"s","namespace":"x"}],"to":[{"podSelector":{}}]}]"#,
            ),
            Some((
                "spec.egress[0].toServices",
                "`toServices` cannot be used with `to`, `ports` or `protocols`",
            )),
        ),
        (
            "26 toServices + ports",
            with_at(
                r#""egress":[{"action":"Drop","toServices":[{"name":"s","namespace":"x"}],"ports":[{"port":80}]}]"#,
            ),
            Some((
                "spec.egress[0].toServices",
                "`toServices` cannot be used with `to`, `ports` or `protocols`",
            )),
        ),
        (
            "26 toServices",
            with_at(r#""egress":[{"action":"Drop","toServices":[{"name":"s","namespace":"x"}]}]"#),
            None,
        ),
        // 27
        (
            "27 service + pod peer",
            acnp(&format!(
                r#"{{"priority":1,{svc_at},"ingress":[{{"action":"Drop","from":[{{"ipBlock":{{"cidr":"10.0.0.0/8"}}}},{{"podSelector":{{}}}}]}}]}}"#
            )),
            Some((
                "spec.ingress[0].from[1]",
                "a rule/policy that is applied to Services can only use ipBlock to select workloads",
            )),
        ),
        (
            "27 rule service + ipBlock with selector",
            acnp(
                r#"{"priority":1,"ingress":[{"action":"Drop","appliedTo":[{"service":{"name":"s","namespace":"x"}}],"from":[{"ipBlock":{"cidr":"10.0.0.0/8"},"podSelector":{}}]}]}"#,
            ),
            Some((
                "spec.ingress[0].from[0]",
                "a rule/policy that is applied to Services can only use ipBlock to select workloads",
            )),
        ),
        (
            "27 service, empty from",
            acnp(&format!(
                r#"{{"priority":1,{svc_at},"ingress":[{{"action":"Drop"}}]}}"#
            )),
            None,
        ),
        // 28
        (
            "28 fqdn",
            with_at(r#""egress":[{"action":"Drop","to":[{"fqdn":"bad_name.com"}]}]"#),
            Some((
                "spec.egress[0].to[0].fqdn",
                "invalid characters in egress rule fqdn field: bad_name.com",
            )),
        ),
        (
            "28 fqdn wildcard",
            with_at(r#""egress":[{"action":"Drop","to":[{"fqdn":"*.Example-1.com"}]}]"#),
            None,
        ),
        // 30–32 (29 is checked directly below: row 19 always reports first)
        (
            "30 multicast reject",
            with_at(r#""egress":[{"action":"Reject","to":[{"ipBlock":{"cidr":"224.0.0.0/4"}}]}]"#),
            Some((
                "spec.egress[0].action",
                "multicast does not support action Pass or Reject",
            )),
        ),
        (
            "30 multicast drop",
            with_at(r#""egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"225.1.2.3/32"}}]}]"#),
            None,
        ),
        (
            "31 multicast + unicast",
            with_at(
                r#""egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"225.1.2.3/32"}},{"ipBlock":{"cidr":"10.0.0.0/8"}}]}]"#,
            ),
            Some((
                "spec.egress[0].to",
                "can not set multicast groupAddress and unicast ip address at the same time",
            )),
        ),
        (
            "32 multicast + selector",
            with_at(
                r#""egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"ff02::1/128"},"podSelector":{}}]}]"#,
            ),
            Some((
                "spec.egress[0].to",
                "can not set multicast groupAddress and selectors at the same time",
            )),
        ),
        // 33–35
        (
            "33 groupAddress unicast",
            with_at(
                r#""ingress":[{"action":"Drop","protocols":[{"igmp":{"groupAddress":"10.0.0.1"}}]}]"#,
            ),
            Some((
                "spec.ingress[0].protocols[0].igmp.groupAddress",
                "groupAddress 10.0.0.1 is not multicast address",
            )),
        ),
        (
            "33 groupAddress unparsable",
            with_at(
                r#""ingress":[{"action":"Drop","protocols":[{"igmp":{"groupAddress":"nope"}}]}]"#,
            ),
            Some((
                "spec.ingress[0].protocols[0].igmp.groupAddress",
                "groupAddress <nil> is not multicast address",
            )),
        ),
        (
            "33 groupAddress multicast",
            with_at(
                r#""ingress":[{"action":"Drop","protocols":[{"igmp":{"igmpType":17,"groupAddress":"224.0.0.251"}}]}]"#,
            ),
            None,
        ),
        (
            "34 IGMP pass",
            with_at(r#""ingress":[{"action":"Pass","protocols":[{"igmp":{}}]}]"#),
            Some((
                "spec.ingress[0].action",
                "protocol IGMP does not support Pass or Reject",
            )),
        ),
        (
            "35 IGMP + from",
            with_at(
                r#""ingress":[{"action":"Drop","protocols":[{"igmp":{}}],"from":[{"podSelector":{}}]}]"#,
            ),
            Some((
                "spec.ingress[0]",
                "protocol IGMP can not be used with other protocols or other properties like from, to",
            )),
        ),
        (
            "35 IGMP then a later rule with to",
            with_at(
                r#""ingress":[{"action":"Drop","protocols":[{"igmp":{}}]}],"egress":[{"action":"Drop","to":[{"podSelector":{}}]}]"#,
            ),
            Some((
                "spec.egress[0]",
                "protocol IGMP can not be used with other protocols or other properties like from, to",
            )),
        ),
        (
            "35 ICMP then IGMP",
            with_at(
                r#""ingress":[{"action":"Drop","protocols":[{"icmp":{}}]},{"action":"Drop","protocols":[{"igmp":{}}]}]"#,
            ),
            Some((
                "spec.ingress[1]",
                "protocol IGMP can not be used with other protocols or other properties like from, to",
            )),
        ),
        // 36
        (
            "36 l7 gate off",
            with_at(r#""ingress":[{"action":"Allow","l7Protocols":[{"http":{}}]}]"#),
            Some((
                "spec.ingress[0].l7Protocols",
                "layer 7 protocols can only be used when L7NetworkPolicy is enabled",
            )),
        ),
        // 41–45
        (
            "41 endPort without port",
            with_at(r#""ingress":[{"action":"Drop","ports":[{"endPort":90}]}]"#),
            Some((
                "spec.ingress[0].ports[0].endPort",
                "if `endPort` is specified `port` must be specified",
            )),
        ),
        (
            "42 endPort with named port",
            with_at(r#""ingress":[{"action":"Drop","ports":[{"port":"http","endPort":90}]}]"#),
            Some((
                "spec.ingress[0].ports[0].endPort",
                "if `port` is a string `endPort` cannot be specified",
            )),
        ),
        (
            "43 endPort < port",
            with_at(r#""egress":[{"action":"Drop","ports":[{"port":90,"endPort":80}]}]"#),
            Some((
                "spec.egress[0].ports[0].endPort",
                "`endPort` should be greater than or equal to `port`",
            )),
        ),
        (
            "43 endPort = port",
            with_at(r#""egress":[{"action":"Drop","ports":[{"port":80,"endPort":80}]}]"#),
            None,
        ),
        (
            "44 sourceEndPort without sourcePort",
            with_at(r#""ingress":[{"action":"Drop","ports":[{"sourceEndPort":90}]}]"#),
            Some((
                "spec.ingress[0].ports[0].sourceEndPort",
                "if `sourceEndPort` is specified `sourcePort` must be specified",
            )),
        ),
        (
            "45 sourceEndPort < sourcePort",
            with_at(
                r#""ingress":[{"action":"Drop","ports":[{"sourcePort":2000,"sourceEndPort":1000}]}]"#,
            ),
            Some((
                "spec.ingress[0].ports[0].sourceEndPort",
                "`sourceEndPort` should be greater than or equal to `sourcePort`",
            )),
        ),
        (
            "45 source range",
            with_at(
                r#""ingress":[{"action":"Drop","ports":[{"sourcePort":1000,"sourceEndPort":2000}]}]"#,
            ),
            None,
        ),
        // tierwall addition: matchExpressions operators, after every Antrea check
        (
            "operator",
            with_at(
                r#""ingress":[{"action":"Drop","from":[{"podSelector":{"matchExpressions":[{"key":"k","operator":"Bogus"}]}}]}]"#,
            ),
            Some((
                "spec.ingress[0].from[0].podSelector.matchExpressions",
                "\"Bogus\" is not a valid label selector operator",
            )),
        ),
        (
            "operator after Antrea checks",
            with_at(
                r#""ingress":[{"action":"Drop","from":[{"podSelector":{"matchExpressions":[{"key":"k","operator":"Bogus"}]}}]},{"action":"Drop","ports":[{"endPort":1}]}]"#,
            ),
            Some((
                "spec.ingress[1].ports[0].endPort",
                "if `endPort` is specified `port` must be specified",
            )),
        ),
    ];
    run(&store, &FeatureGates::default(), &cases);

    let l7: Vec<(&str, String, Want)> = vec![
        (
            "36 l7 gate on",
            with_at(
                r#""ingress":[{"action":"Allow","l7Protocols":[{"http":{"method":"GET"}}],"ports":[{"protocol":"TCP","port":8080}]}]"#,
            ),
            None,
        ),
        (
            "37 l7 drop",
            with_at(r#""ingress":[{"action":"Drop","l7Protocols":[{"http":{}}]}]"#),
            Some((
                "spec.ingress[0].action",
                "layer 7 protocols only support Allow",
            )),
        ),
        (
            "38 l7 toServices",
            with_at(
                r#""egress":[{"action":"Allow","l7Protocols":[{"tls":{"sni":"a.com"}}],"toServices":[{"name":"s","namespace":"x"}]}]"#,
            ),
            Some((
                "spec.egress[0].toServices",
                "layer 7 protocols can not be used with toServices",
            )),
        ),
        (
            "39 http over UDP",
            with_at(
                r#""ingress":[{"action":"Allow","l7Protocols":[{"http":{}}],"ports":[{"protocol":"UDP","port":80}]}]"#,
            ),
            Some((
                "spec.ingress[0].ports[0].protocol",
                "HTTP protocol can only be used when layer 4 protocol is TCP or unset",
            )),
        ),
        (
            "39 tls over UDP",
            with_at(
                r#""ingress":[{"action":"Allow","l7Protocols":[{"tls":{}}],"ports":[{"protocol":"UDP","port":80}]}]"#,
            ),
            None,
        ),
        (
            "40 http + icmp",
            with_at(
                r#""ingress":[{"action":"Allow","l7Protocols":[{"http":{}}],"protocols":[{"icmp":{}}]}]"#,
            ),
            Some((
                "spec.ingress[0].protocols[0]",
                "HTTP protocol can not be used with protocol IGMP or ICMP",
            )),
        ),
    ];
    run(&store, &l7_on(), &l7);
}
