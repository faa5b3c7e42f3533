//! Table-driven admission tests, one module per reference section: every row's message with an
//! accepted and a rejected case where the row is reachable, the mutation, Tier, group,
//! Kubernetes NetworkPolicy and core-object rules, and a no-panic property test.

use super::*;
use crate::store::Store;
use tierwall_model::{Kind, Object, ObjectKey, load_str};

/// `name part` regex error of Kubernetes' `IsQualifiedName`.
const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
/// Regex error of Kubernetes' `IsValidLabelValue`.
const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn object(text: &str) -> Object {
    let mut loaded = load_str("test", text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(loaded.len(), 1, "{text}");
    let mut o = loaded.remove(0).object;
    o.normalize_type_meta();
    o
}

fn acnp(spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"ClusterNetworkPolicy","metadata":{{"name":"p"}},"spec":{spec}}}"#
    )
}

fn annp(spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"NetworkPolicy","metadata":{{"name":"p","namespace":"x"}},"spec":{spec}}}"#
    )
}

fn tier(name: &str, priority: i64) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"Tier","metadata":{{"name":"{name}"}},"spec":{{"priority":{priority}}}}}"#
    )
}

fn cg(name: &str, spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"ClusterGroup","metadata":{{"name":"{name}"}},"spec":{spec}}}"#
    )
}

fn grp(ns: &str, name: &str, spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"Group","metadata":{{"name":"{name}","namespace":"{ns}"}},"spec":{spec}}}"#
    )
}

fn netpol(spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{{"name":"np","namespace":"x"}},"spec":{spec}}}"#
    )
}

/// Admits and, when accepted, stores the object (what the engine does).
fn apply(store: &mut Store, text: &str) -> Result<Admitted, AdmissionError> {
    let admitted = admit_apply(store, object(text))?;
    store.put(admitted.object.clone());
    Ok(admitted)
}

/// `None` = accepted; `Some((field, message))` = rejected with exactly that.
type Want = Option<(&'static str, &'static str)>;

fn check(store: &Store, gates: &FeatureGates, name: &str, text: &str, want: Want) {
    let got = admit_apply_with(store, object(text), gates);
    match (want, got) {
        (None, Ok(_)) => {}
        (None, Err(e)) => panic!("{name}: expected accepted, got {e}"),
        (Some((field, message)), Ok(_)) => {
            panic!("{name}: expected rejection {field}: {message}, got accepted")
        }
        (Some((field, message)), Err(e)) => {
            assert_eq!(
                (e.field.as_str(), e.message.as_str()),
                (field, message),
                "{name}"
            );
        }
    }
}

fn run(store: &Store, gates: &FeatureGates, cases: &[(&str, String, Want)]) {
    for (name, text, want) in cases {
        check(store, gates, name, text, *want);
    }
}

const AT: &str = r#""appliedTo":[{"podSelector":{}}]"#;

fn with_at(rest: &str) -> String {
    acnp(&format!(r#"{{"priority":1,{AT},{rest}}}"#))
}

mod api {
    use super::*;

    #[test]
    fn error_display() {
        let e = AdmissionError {
            object: ObjectKey::cluster(Kind::ClusterNetworkPolicy, "p"),
            field: "spec.tier".into(),
            message: "tier x does not exist".into(),
        };
        assert_eq!(
            e.to_string(),
            "ClusterNetworkPolicy p: spec.tier: tier x does not exist"
        );
        let e = AdmissionError {
            field: String::new(),
            ..e
        };
        assert_eq!(
            e.to_string(),
            "ClusterNetworkPolicy p: tier x does not exist"
        );
    }

    #[test]
    fn operation_create_then_update_and_delete() {
        let mut store = Store::new();
        let text = with_at(r#""ingress":[{"action":"Allow"}]"#);
        assert_eq!(
            apply(&mut store, &text).map(|a| a.operation),
            Ok(Operation::Create)
        );
        assert_eq!(
            apply(&mut store, &text).map(|a| a.operation),
            Ok(Operation::Update)
        );
        let key = ObjectKey::cluster(Kind::ClusterNetworkPolicy, "p");
        assert_eq!(admit_delete(&store, &key), Ok(()));
        let missing = ObjectKey::cluster(Kind::ClusterNetworkPolicy, "nope");
        let err = admit_delete(&store, &missing).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.message.as_str()),
            ("", "not found")
        );
    }
}

/// §1.1 mutation.
mod mutation {
    use super::*;

    fn admitted_policy(store: &Store, text: &str) -> tierwall_model::antrea::AntreaPolicy {
        match admit_apply(store, object(text)).map(|a| a.object) {
            Ok(Object::AntreaPolicy(_, p)) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unnamed_rules_get_generated_names_and_tier_defaults() {
        let text = acnp(
            r#"{"priority":1,"appliedTo":[{"podSelector":{}}],
               "ingress":[{"action":"Allow","from":[{"podSelector":{"matchLabels":{"foo1":"bar1"}}}]},
                          {"action":"Allow","name":"keep","from":[{"podSelector":{"matchLabels":{"foo2":"bar2"}}}]}],
               "egress":[{"action":"Allow","to":[{"podSelector":{"matchLabels":{"foo2":"bar2"}}}]}]}"#,
        );
        let p = admitted_policy(&Store::new(), &text);
        assert_eq!(p.spec.ingress[0].name, "ingress-allow-c4f16d3");
        assert_eq!(p.spec.ingress[1].name, "keep");
        assert_eq!(p.spec.egress[0].name, "egress-allow-44b2575");
        assert_eq!(p.spec.tier, "application");
    }

    #[test]
    fn update_is_mutated_too_and_explicit_tier_kept() {
        let mut store = Store::new();
        let text = acnp(
            r#"{"priority":1,"tier":"Emergency","appliedTo":[{"podSelector":{}}],"ingress":[{"action":"Allow","from":[{"podSelector":{"matchLabels":{"foo2":"bar2"}}}]}]}"#,
        );
        apply(&mut store, &text).unwrap();
        let p = admitted_policy(&store, &text);
        assert_eq!(p.spec.ingress[0].name, "ingress-allow-be87b58");
        assert_eq!(
            p.spec.tier, "Emergency",
            "legacy names are accepted as written"
        );
    }

    #[test]
    fn scenario_93_names_through_admission() {
        let text = "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: cnp1
spec:
  priority: 10
  appliedTo:
  - podSelector:
      matchLabels:
        antrea-e2e: test-server
  ingress:
  - action: Allow
    from:
    - podSelector:
        matchLabels:
          antrea-e2e: test-client
    ports:
    - protocol: UDP
      port: 800
  - action: Drop
    from:
    - podSelector:
        matchLabels:
          antrea-e2e: test-client
    ports:
    - protocol: UDP
      port: 4430
";
        let p = admitted_policy(&Store::new(), text);
        let names: Vec<&str> = p.spec.ingress.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ingress-allow-fa89084", "ingress-drop-f171382"]);
    }

    #[test]
    fn fields_the_schemas_lack_are_rejected_with_their_path() {
        const ACNP_MSG: &str = "field not declared in the ClusterNetworkPolicy schema";
        const ANNP_MSG: &str = "field not declared in the NetworkPolicy schema";
        let cases: Vec<(&str, String, &str, &str)> = vec![
            (
                "ACNP ingress fqdn",
                with_at(r#""ingress":[{"action":"Allow","from":[{"fqdn":"x.com"}]}]"#),
                "spec.ingress[0].from[0].fqdn",
                ACNP_MSG,
            ),
            (
                "ACNP rule appliedTo nodeSelector",
                acnp(
                    r#"{"priority":1,"ingress":[{"action":"Drop","appliedTo":[{"nodeSelector":{}}]}]}"#,
                ),
                "spec.ingress[0].appliedTo[0].nodeSelector",
                ACNP_MSG,
            ),
            (
                "ACNP egress scope",
                with_at(
                    r#""egress":[{"action":"Drop","to":[{"podSelector":{},"scope":"ClusterSet"}]}]"#,
                ),
                "spec.egress[0].to[0].scope",
                ACNP_MSG,
            ),
            (
                "ANNP appliedTo namespaceSelector",
                annp(r#"{"priority":1,"appliedTo":[{"namespaceSelector":{}}]}"#),
                "spec.appliedTo[0].namespaceSelector",
                ANNP_MSG,
            ),
            (
                "ANNP namespaces peer",
                annp(
                    r#"{"priority":1,"appliedTo":[{"podSelector":{}}],"ingress":[{"action":"Drop","from":[{"namespaces":{"match":"Self"}}]}]}"#,
                ),
                "spec.ingress[0].from[0].namespaces",
                ANNP_MSG,
            ),
            (
                "ANNP serviceAccount peer",
                annp(
                    r#"{"priority":1,"appliedTo":[{"podSelector":{}}],"egress":[{"action":"Drop","to":[{"serviceAccount":{"name":"a","namespace":"x"}}]}]}"#,
                ),
                "spec.egress[0].to[0].serviceAccount",
                ANNP_MSG,
            ),
            (
                "Group nodeSelector",
                grp("x", "g", r#"{"nodeSelector":{}}"#),
                "spec.nodeSelector",
                "field not declared in the Group schema",
            ),
        ];
        for (name, text, field, message) in cases {
            let e = admit_apply(&Store::new(), object(&text)).expect_err(name);
            assert_eq!(e.field, field, "{name}");
            assert!(e.message.starts_with(message), "{name}: {}", e.message);
        }
    }
}

/// §1.5 OpenAPI constraints of ACNP/ANNP and Tier.
mod openapi {
    use super::*;

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
                with_at(
                    r#""ingress":[{"action":"Drop","from":[{"namespaces":{"match":"Other"}}]}]"#,
                ),
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
                with_at(
                    r#""ingress":[{"action":"Drop","from":[{"serviceAccount":{"name":"sa"}}]}]"#,
                ),
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
}

/// §1.2 ACNP/ANNP validation, rows 1–45 and W.
mod policy_rows {
    use super::*;

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
                acnp(
                    r#"{"priority":1,"appliedTo":[{"podSelector":{"matchLabels":{"bad key":"v"}}}]}"#,
                ),
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
                with_at(
                    r#""ingress":[{"action":"Drop","from":[{"ipBlock":{"cidr":"192.168.5.6"}}]}]"#,
                ),
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
                with_at(
                    r#""egress":[{"action":"Drop","toServices":[{"name":"s","namespace":"x"}]}]"#,
                ),
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
                with_at(
                    r#""egress":[{"action":"Reject","to":[{"ipBlock":{"cidr":"224.0.0.0/4"}}]}]"#,
                ),
                Some((
                    "spec.egress[0].action",
                    "multicast does not support action Pass or Reject",
                )),
            ),
            (
                "30 multicast drop",
                with_at(
                    r#""egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"225.1.2.3/32"}}]}]"#,
                ),
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

    #[test]
    fn row_29_egress_multicast_cidr() {
        // Unreachable through admission (row 19 rejects the CIDR first); checked directly.
        let p = match object(&with_at(
            r#""egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"bad"}}]}]"#,
        )) {
            Object::AntreaPolicy(_, p) => p,
            other => panic!("{other:?}"),
        };
        let err = super::super::policy::validate_egress_multicast(&p.spec).unwrap_err();
        assert_eq!(err.field, "spec.egress[0].to[0].ipBlock.cidr");
        assert_eq!(
            err.message,
            "invalid multicast groupAddress address (to.IPBlock.CIDR): invalid CIDR address: bad"
        );
    }

    #[test]
    fn row_w_node_policy_log_labels() {
        let store = Store::new();
        let text = acnp(
            r#"{"priority":1,"appliedTo":[{"nodeSelector":{}}],
               "ingress":[{"action":"Drop","name":"long","enableLogging":true,"logLabel":"abcdefghijklm"},
                          {"action":"Drop","name":"short","enableLogging":true,"logLabel":"abcdefghijkl"},
                          {"action":"Drop","name":"off","logLabel":"abcdefghijklmnop"}]}"#,
        );
        let admitted = admit_apply(&store, object(&text)).unwrap();
        assert_eq!(
            admitted.warnings,
            vec![
                "LogLabels for Node NetworkPolicies are limited to 12 characters, but the label \"abcdefghijklm\" for policy rule \"long\" exceeds the limit and will be truncated in kernel logs"
            ]
        );
        let pods = with_at(
            r#""ingress":[{"action":"Drop","enableLogging":true,"logLabel":"abcdefghijklmnop"}]"#,
        );
        assert!(
            admit_apply(&store, object(&pods))
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn annp_same_rules() {
        let store = Store::new();
        let cases: Vec<(&str, String, Want)> = vec![
            (
                "ANNP ok",
                annp(
                    r#"{"priority":5,"appliedTo":[{"podSelector":{"matchLabels":{"pod":"a"}}}],"ingress":[{"action":"Drop","from":[{"podSelector":{},"namespaceSelector":{}}]}]}"#,
                ),
                None,
            ),
            (
                "ANNP bad except",
                annp(
                    r#"{"priority":5,"appliedTo":[{"podSelector":{}}],"egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"10.0.0.0/24","except":["10.0.0.0/16"]}}]}]}"#,
                ),
                Some((
                    "spec.egress[0].to[0].ipBlock.except[0]",
                    "except CIDR 10.0.0.0/16 is not a strict subset of CIDR 10.0.0.0/24",
                )),
            ),
            (
                "ANNP group + ee",
                annp(r#"{"priority":5,"appliedTo":[{"group":"g","externalEntitySelector":{}}]}"#),
                Some((
                    "spec.appliedTo[0]",
                    "group cannot be set with other peers in appliedTo",
                )),
            ),
        ];
        run(&store, &FeatureGates::default(), &cases);
    }

    #[test]
    fn scenario_01_nonexistent_tier() {
        let text = "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: acnp-non-exist-tier
spec:
  tier: no-exist
  priority: 1.0
  appliedTo:
  - podSelector:
      matchLabels:
        pod: a
";
        let err = admit_apply(&Store::new(), object(text)).unwrap_err();
        assert!(
            err.to_string().contains("tier no-exist does not exist"),
            "{err}"
        );
    }
}

/// §1.3 Tier.
mod tiers {
    use super::*;

    fn rejected(r: Result<Admitted, AdmissionError>) -> (String, String) {
        let e = r.unwrap_err();
        (e.field, e.message)
    }

    #[test]
    fn create_rules() {
        let mut store = Store::new();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert!(apply(&mut store, &tier("tier-prio-20", 20)).is_ok());
        assert_eq!(
            rejected(apply(&mut store, &tier("another-tier-prio-20", 20))),
            s(
                "spec.priority",
                "tier another-tier-prio-20 priority 20 overlaps with existing Tier"
            )
        );
        assert_eq!(
            rejected(apply(&mut store, &tier("t250", 250))),
            s(
                "spec.priority",
                "tier t250 priority 250 overlaps with existing Tier"
            )
        );
        assert_eq!(
            rejected(apply(&mut store, &tier("t253", 253))),
            s(
                "spec.priority",
                "tier t253 priority 253 overlaps with existing Tier"
            )
        );
        for p in RESERVED_PRIORITIES {
            assert_eq!(
                rejected(apply(&mut store, &tier("r", p.into()))),
                s("spec.priority", &format!("tier r priority {p} is reserved"))
            );
        }
        assert!(
            apply(&mut store, &tier("t220", 220)).is_ok(),
            "220 is free with the CNP gate off"
        );
        let gates = FeatureGates {
            cluster_network_policy: true,
            ..Default::default()
        };
        let err = admit_apply_with(&Store::new(), object(&tier("cnp", 220)), &gates).unwrap_err();
        assert_eq!(
            err.message,
            "tier cnp priority 220 is reserved for upstream ClusterNetworkPolicy when the ClusterNetworkPolicy feature gate is enabled; choose a different priority"
        );
    }

    #[test]
    fn at_most_twenty() {
        let mut store = Store::new();
        for p in 1..=14 {
            assert!(apply(&mut store, &tier(&format!("t{p}"), p)).is_ok(), "{p}");
        }
        let err = apply(&mut store, &tier("t15", 15)).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.message.as_str()),
            ("", "maximum number of Tiers supported: 20")
        );
        // An update is not a create: still allowed at the limit.
        assert_eq!(
            apply(&mut store, &tier("t1", 1)).map(|a| a.operation),
            Ok(Operation::Update)
        );
    }

    #[test]
    fn update_rules() {
        let mut store = Store::new();
        apply(&mut store, &tier("t", 20)).unwrap();
        let err = apply(&mut store, &tier("t", 21)).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.message.as_str()),
            ("spec.priority", "update to Tier priority is not allowed")
        );
        let described = r#"{"apiVersion":"crd.antrea.io/v1beta1","kind":"Tier","metadata":{"name":"t"},"spec":{"priority":20,"description":"mine"}}"#;
        assert!(apply(&mut store, described).is_ok());
        let err = apply(&mut store, &tier("application", 240)).unwrap_err();
        assert_eq!(err.message, "update to Tier priority is not allowed");
    }

    #[test]
    fn delete_rules() {
        let mut store = Store::new();
        apply(&mut store, &tier("mytier", 20)).unwrap();
        apply(&mut store, &tier("free", 21)).unwrap();
        for n in ["a", "b"] {
            let text = format!(
                r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"ClusterNetworkPolicy","metadata":{{"name":"{n}"}},"spec":{{"priority":1,"tier":"mytier",{AT}}}}}"#
            );
            apply(&mut store, &text).unwrap();
        }
        let del = |store: &Store, name: &str| {
            admit_delete(store, &ObjectKey::cluster(Kind::Tier, name)).map_err(|e| e.message)
        };
        for reserved in [
            "baseline",
            "application",
            "platform",
            "networkops",
            "securityops",
            "emergency",
        ] {
            assert_eq!(
                del(&store, reserved),
                Err(format!("cannot delete reserved tier {reserved}"))
            );
        }
        assert_eq!(
            del(&store, "mytier"),
            Err("tier mytier is referenced by 2 Antrea ClusterNetworkPolicies".to_string())
        );
        assert_eq!(del(&store, "free"), Ok(()));
        assert_eq!(del(&store, "missing"), Err("not found".to_string()));
        store.remove(&ObjectKey::cluster(Kind::ClusterNetworkPolicy, "a"));
        store.remove(&ObjectKey::cluster(Kind::ClusterNetworkPolicy, "b"));
        apply(
            &mut store,
            &annp(&format!(r#"{{"priority":1,"tier":"mytier",{AT}}}"#)),
        )
        .unwrap();
        assert_eq!(
            del(&store, "mytier"),
            Err("tier mytier is referenced by 1 Antrea NetworkPolicies".to_string())
        );
    }

    #[test]
    fn scenario_05_overlapping_priority() {
        let mut store = Store::new();
        let first = "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata:\n  name: tier-prio-20\nspec:\n  priority: 20\n";
        let second = "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata:\n  name: another-tier-prio-20\nspec:\n  priority: 20\n";
        apply(&mut store, first).unwrap();
        let err = apply(&mut store, second).unwrap_err();
        assert!(
            err.to_string()
                .contains("tier another-tier-prio-20 priority 20 overlaps with existing Tier"),
            "{err}"
        );
        assert_eq!(
            admit_delete(&store, &ObjectKey::cluster(Kind::Tier, "tier-prio-20")),
            Ok(())
        );
    }
}

/// §1.4 ClusterGroup / Group.
mod groups {
    use super::*;

    const CG_MSG: &str = "At most one of podSelector, nodeSelector, externalEntitySelector, serviceReference, ipBlock, ipBlocks or childGroups can be set for a ClusterGroup";
    const GRP_MSG: &str = "At most one of podSelector, externalEntitySelector, serviceReference, ipBlocks or childGroups can be set for a Group";

    #[test]
    fn field_combinations_and_contents() {
        let store = Store::new();
        let key_msg =
            Box::leak(format!("Invalid label key: bad key: {NAME_PART}").into_boxed_str()) as &str;
        let cases: Vec<(&str, String, Want)> = vec![
            ("empty spec", cg("c", "{}"), None),
            (
                "ns + pod",
                cg("c", r#"{"namespaceSelector":{},"podSelector":{}}"#),
                None,
            ),
            (
                "ns + ee",
                cg(
                    "c",
                    r#"{"namespaceSelector":{},"externalEntitySelector":{}}"#,
                ),
                None,
            ),
            (
                "pod + ipBlocks",
                cg(
                    "c",
                    r#"{"podSelector":{},"ipBlocks":[{"cidr":"10.0.0.10/32"}]}"#,
                ),
                Some(("spec", CG_MSG)),
            ),
            (
                "ns + nodeSelector",
                cg("c", r#"{"namespaceSelector":{},"nodeSelector":{}}"#),
                Some(("spec", CG_MSG)),
            ),
            (
                "three fields",
                cg(
                    "c",
                    r#"{"namespaceSelector":{},"podSelector":{},"externalEntitySelector":{}}"#,
                ),
                Some(("spec", CG_MSG)),
            ),
            (
                "ipBlock + ipBlocks",
                cg(
                    "c",
                    r#"{"ipBlock":{"cidr":"10.0.0.0/8"},"ipBlocks":[{"cidr":"10.0.0.0/8"}]}"#,
                ),
                Some(("spec", CG_MSG)),
            ),
            (
                "group svcref + pod",
                grp(
                    "x",
                    "g",
                    r#"{"podSelector":{},"serviceReference":{"name":"s","namespace":"x"}}"#,
                ),
                Some(("spec", GRP_MSG)),
            ),
            (
                "label key",
                cg(
                    "c",
                    r#"{"namespaceSelector":{"matchLabels":{"bad key":"v"}}}"#,
                ),
                Some(("spec.namespaceSelector.matchLabels", key_msg)),
            ),
            (
                "empty cidr",
                cg("c", r#"{"ipBlocks":[{"cidr":"10.0.0.0/8"},{"cidr":""}]}"#),
                Some((
                    "spec.ipBlocks[1].cidr",
                    "field 'cidr' is required in an ipBlock",
                )),
            ),
            (
                "bad cidr",
                cg("c", r#"{"ipBlocks":[{"cidr":"10.0.0.300/8"}]}"#),
                Some((
                    "spec.ipBlocks[0].cidr",
                    "invalid CIDR address: 10.0.0.300/8",
                )),
            ),
            (
                "legacy ipBlock",
                cg(
                    "c",
                    r#"{"ipBlock":{"cidr":"10.0.0.0/8","except":["12.0.0.0/16"]}}"#,
                ),
                Some((
                    "spec.ipBlock.except[0]",
                    "except CIDR 12.0.0.0/16 is not a strict subset of CIDR 10.0.0.0/8",
                )),
            ),
            (
                "bad except",
                grp(
                    "x",
                    "g",
                    r#"{"ipBlocks":[{"cidr":"10.0.0.0/8","except":["10.0.0.0"]}]}"#,
                ),
                Some((
                    "spec.ipBlocks[0].except[0]",
                    "invalid except CIDR value: invalid CIDR address: 10.0.0.0",
                )),
            ),
            (
                "multicast + unicast",
                cg(
                    "c",
                    r#"{"ipBlocks":[{"cidr":"224.0.0.0/4"},{"cidr":"10.0.0.0/8"}]}"#,
                ),
                Some((
                    "spec.ipBlocks[1]",
                    "can not set multicast groupAddress together with unicast ip address",
                )),
            ),
            (
                "multicast only",
                cg(
                    "c",
                    r#"{"ipBlocks":[{"cidr":"224.0.0.0/4"},{"cidr":"ff00::/8"}]}"#,
                ),
                None,
            ),
            (
                "self child",
                cg("c", r#"{"childGroups":["a","c"]}"#),
                Some((
                    "spec.childGroups[1]",
                    "cannot set ClusterGroup c as its own childGroup",
                )),
            ),
            (
                "group self child",
                grp("x", "g", r#"{"childGroups":["g"]}"#),
                Some((
                    "spec.childGroups[0]",
                    "cannot set Group x/g as its own childGroup",
                )),
            ),
            (
                "missing children ok",
                cg("c", r#"{"childGroups":["later"]}"#),
                None,
            ),
            (
                "operator",
                cg(
                    "c",
                    r#"{"nodeSelector":{"matchExpressions":[{"key":"k","operator":"In"}]}}"#,
                ),
                Some((
                    "spec.nodeSelector.matchExpressions",
                    "values: Required value: must be specified when `operator` is 'In' or 'NotIn' (key k)",
                )),
            ),
        ];
        run(&store, &FeatureGates::default(), &cases);
    }

    fn expect(r: Result<Admitted, AdmissionError>, want: Option<&str>) {
        match (r, want) {
            (Ok(_), None) => {}
            (Err(e), Some(m)) => assert!(e.to_string().contains(m), "{e}"),
            (Ok(a), Some(m)) => panic!("expected {m}, accepted {:?}", a.object.key()),
            (Err(e), None) => panic!("expected accepted, got {e}"),
        }
    }

    /// /work/shared/scenarios/antrea/94-validation-clustergroup-combinations.yaml, nesting part.
    #[test]
    fn scenario_94_nesting() {
        let mut store = Store::new();
        expect(
            apply(&mut store, &cg("test-child-cg", r#"{"podSelector":{}}"#)),
            None,
        );
        expect(
            apply(
                &mut store,
                &cg("cg-nested-1", r#"{"childGroups":["test-child-cg"]}"#),
            ),
            None,
        );
        expect(
            apply(
                &mut store,
                &cg("cg-nested-2", r#"{"childGroups":["cg-nested-1"]}"#),
            ),
            Some("cannot set ClusterGroup cg-nested-1 as childGroup, who has 1 childGroups itself"),
        );
        assert_eq!(
            admit_delete(
                &store,
                &ObjectKey::cluster(Kind::ClusterGroup, "cg-nested-1")
            ),
            Ok(())
        );
        store.remove(&ObjectKey::cluster(Kind::ClusterGroup, "cg-nested-1"));
        expect(
            apply(
                &mut store,
                &cg("cg-nested-2", r#"{"childGroups":["cg-nested-1"]}"#),
            ),
            None,
        );
        expect(
            apply(
                &mut store,
                &cg("cg-nested-1", r#"{"childGroups":["test-child-cg"]}"#),
            ),
            Some("cannot set childGroups for ClusterGroup cg-nested-1, who has 1 parents"),
        );
        // Without childGroups of its own, a child with a parent is fine.
        expect(
            apply(&mut store, &cg("cg-nested-1", r#"{"podSelector":{}}"#)),
            None,
        );
    }

    /// /work/shared/scenarios/antrea/10-validation-update-group-add-serviceref.yaml.
    #[test]
    fn scenario_10_group_update() {
        let mut store = Store::new();
        expect(
            apply(
                &mut store,
                &grp(
                    "x",
                    "g-mix-peer",
                    r#"{"podSelector":{"matchLabels":{"pod":"a"}}}"#,
                ),
            ),
            None,
        );
        let update = grp(
            "x",
            "g-mix-peer",
            r#"{"podSelector":{"matchLabels":{"pod":"a"}},"serviceReference":{"namespace":"svc","name":"x"}}"#,
        );
        let err = apply(&mut store, &update).unwrap_err();
        assert_eq!(err.field, "spec");
        assert_eq!(err.message, GRP_MSG);
        assert_eq!(
            admit_delete(
                &store,
                &ObjectKey::namespaced(Kind::Group, "x", "g-mix-peer")
            ),
            Ok(())
        );
    }

    #[test]
    fn group_nesting_is_per_namespace() {
        let mut store = Store::new();
        expect(
            apply(
                &mut store,
                &grp("x", "child", r#"{"childGroups":["leaf"]}"#),
            ),
            None,
        );
        // Same name in another namespace is a different group: no grandchildren there.
        expect(
            apply(
                &mut store,
                &grp("y", "parent", r#"{"childGroups":["child"]}"#),
            ),
            None,
        );
        expect(
            apply(
                &mut store,
                &grp("x", "parent", r#"{"childGroups":["child"]}"#),
            ),
            Some("cannot set Group x/child as childGroup, who has 1 childGroups itself"),
        );
        expect(
            apply(
                &mut store,
                &grp("y", "child", r#"{"childGroups":["leaf"]}"#),
            ),
            Some("cannot set childGroups for Group y/child, who has 1 parents"),
        );
        // A ClusterGroup parent does not count for a Group.
        expect(
            apply(&mut store, &cg("top", r#"{"childGroups":["leaf2"]}"#)),
            None,
        );
        expect(
            apply(&mut store, &grp("x", "leaf2", r#"{"childGroups":["z"]}"#)),
            None,
        );
    }
}

/// Kubernetes NetworkPolicy API validation and defaulting.
mod k8s_network_policy {
    use super::*;
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
                netpol(
                    r#"{"podSelector":{},"ingress":[{"ports":[{"port":"http","endPort":90}]}]}"#,
                ),
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
                netpol(
                    r#"{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0"}}]}]}"#,
                ),
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
                    Box::leak(
                        format!("Invalid value: \"bad value\": {LABEL_VALUE}").into_boxed_str(),
                    ),
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
}

/// Metadata and core objects.
mod objects {
    use super::*;

    const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    #[test]
    fn table() {
        let store = Store::new();
        let sub =
            Box::leak(format!("Invalid value: \"Bad\": {SUBDOMAIN}").into_boxed_str()) as &str;
        let cases: Vec<(&str, String, Want)> = vec![
            ("empty name", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":""}}"#.into(), Some(("metadata.name", "Required value: name or generateName is required"))),
            ("bad name", tier("Bad", 10), Some(("metadata.name", sub))),
            ("dotted namespace name", r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a.b"}}"#.into(), Some(("metadata.name", "Invalid value: \"a.b\": must not contain dots"))),
            ("service name", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"1svc","namespace":"x"}}"#.into(), Some(("metadata.name", "Invalid value: \"1svc\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"))),
            ("bad namespace", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"X_1"}}"#.into(), Some(("metadata.namespace", "Invalid value: \"X_1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))),
            ("label value", r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n","labels":{"k":"-v"}}}"#.into(), Some(("metadata.labels", Box::leak(format!("Invalid value: \"-v\": {LABEL_VALUE}").into_boxed_str())))),
            ("annotation key", r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa","namespace":"x","annotations":{"a b":"v"}}}"#.into(), Some(("metadata.annotations", Box::leak(format!("Invalid value: \"a b\": {NAME_PART}").into_boxed_str())))),
            ("pod ok", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x","labels":{"pod":"a"}},"spec":{"containers":[{"name":"c","ports":[{"name":"serve-80-tcp","containerPort":80}]}]},"status":{"podIP":"10.10.1.11"}}"#.into(), None),
            ("pod IP", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"},"status":{"podIP":"10.10.1"}}"#.into(), Some(("status.podIP", "Invalid value: \"10.10.1\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))),
            ("pod IPs", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"},"status":{"podIPs":[{"ip":"fd00::1"},{"ip":"x"}]}}"#.into(), Some(("status.podIPs[1].ip", "Invalid value: \"x\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))),
            ("container port", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":0}]}]}}"#.into(), Some(("spec.containers[0].ports[0].containerPort", "Invalid value: 0: must be between 1 and 65535, inclusive"))),
            ("container port name", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"name":"serve-80-tcp-and-more"}]}]}}"#.into(), Some(("spec.containers[0].ports[0].name", "Invalid value: \"serve-80-tcp-and-more\": must be no more than 15 characters"))),
            ("service None", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"clusterIP":"None","ports":[{"port":80,"targetPort":"http"}]}}"#.into(), None),
            ("service clusterIP", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"clusterIP":"10.96.0.300"}}"#.into(), Some(("spec.clusterIP", "Invalid value: \"10.96.0.300\": must be empty, 'None', or a valid IP address"))),
            ("service port", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"ports":[{"port":70000}]}}"#.into(), Some(("spec.ports[0].port", "Invalid value: 70000: must be between 1 and 65535, inclusive"))),
            ("service targetPort", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"ports":[{"port":80,"targetPort":65536}]}}"#.into(), Some(("spec.ports[0].targetPort", "Invalid value: 65536: must be between 1 and 65535, inclusive"))),
            ("service protocol", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"ports":[{"port":80,"protocol":"tcp"}]}}"#.into(), Some(("spec.ports[0].protocol", r#"Unsupported value: "tcp": supported values: "TCP", "UDP", "SCTP""#))),
            ("node", r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-0","labels":{"node-role.kubernetes.io/control-plane":""}}}"#.into(), None),
        ];
        run(&store, &FeatureGates::default(), &cases);
    }

    #[test]
    fn namespace_mutation_and_normalisation() {
        let store = Store::new();
        let ns = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x","labels":{"ns":"x","kubernetes.io/metadata.name":"wrong"}}}"#;
        let admitted = admit_apply(&store, object(ns)).unwrap();
        let labels = &admitted.object.metadata().labels;
        assert_eq!(
            labels.get(NAMESPACE_NAME_LABEL).map(String::as_str),
            Some("x")
        );
        assert_eq!(labels.get("ns").map(String::as_str), Some("x"));

        let mut pod = object(r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#);
        pod.metadata_mut().namespace = None;
        let admitted = admit_apply(&store, pod).unwrap();
        assert_eq!(
            admitted.object.metadata().namespace.as_deref(),
            Some("default")
        );

        let mut t = object(&tier("t", 10));
        t.metadata_mut().namespace = Some("x".into());
        let admitted = admit_apply(&store, t).unwrap();
        assert_eq!(admitted.object.metadata().namespace, None);
        assert_eq!(admitted.object.key(), ObjectKey::cluster(Kind::Tier, "t"));
    }

    #[test]
    fn deletes_of_other_kinds_are_allowed() {
        let mut store = Store::new();
        apply(&mut store, &cg("c", "{}")).unwrap();
        apply(&mut store, &netpol(r#"{"podSelector":{}}"#)).unwrap();
        assert_eq!(
            admit_delete(&store, &ObjectKey::cluster(Kind::ClusterGroup, "c")),
            Ok(())
        );
        assert_eq!(
            admit_delete(
                &store,
                &ObjectKey::namespaced(Kind::NetworkPolicy, "x", "np")
            ),
            Ok(())
        );
    }
}

/// Admission never panics, whatever strings reach it.
mod robustness {
    use super::*;
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
}
