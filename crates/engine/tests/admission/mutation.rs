//! §1.1 mutation: generated rule names, the default Tier, and fields the CRD schemas lack.

use crate::support::*;

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
