//! §1.2 ACNP/ANNP validation beyond the row table: Node policies with log labels, ANNP
//! sharing the ACNP rules, and scenario 01 (a nonexistent Tier).

use crate::support::*;

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
