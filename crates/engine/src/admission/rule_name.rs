//! Auto-generated rule names, exactly as Antrea's mutating webhook computes them:
//! `<ingress|egress>-<lowercase action>-<first 7 hex digits of SHA-1(json.Marshal(rule))>`.
//!
//! The hash is over Go's `encoding/json` output for `crdv1beta1.Rule`, so this module carries a
//! Go-JSON encoder for rules: fields in Go struct order, `omitempty` on every field but `action`
//! and `enableLogging`, map keys sorted, no whitespace, and `<`, `>`, `&`, U+2028, U+2029
//! escaped as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`.
//!
//! Most model types already serialize like Go (their fields are declared in Go order with
//! matching skip rules). The exceptions are handled by mirror types here: Go's `string` fields
//! tagged `omitempty` that the model holds as `Option<String>` (`igmp.groupAddress`,
//! `http.host/method/path`, `tls.sni`), where Go omits an empty string that serde would print.

use serde::Serialize;
use sha1::{Digest, Sha1};
use tierwall_model::antrea::{
    AppliedTo, IcmpProtocol, L7Protocol, Peer, PortSpec, ProtocolSpec, Rule, ServiceReference,
};

/// Rule direction (also the prefix of generated rule names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// `ingress` / `egress`, as used in generated names and JSON patch paths.
    pub fn prefix(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// Number of hex digits of the SHA-1 kept in a generated name.
const HASH_LEN: usize = 7;

/// The name Antrea's mutating webhook gives an unnamed rule. The rule is hashed as given, so
/// call it with the rule's `name` still empty (as the webhook does).
pub fn generated_rule_name(direction: Direction, rule: &Rule) -> String {
    let json = go_json(rule);
    let digest = Sha1::digest(json.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let short = hex.get(..HASH_LEN).unwrap_or(&hex);
    format!(
        "{}-{}-{short}",
        direction.prefix(),
        rule.action.to_lowercase()
    )
}

/// Go's `json.Marshal(rule)` as a string.
pub fn go_json(rule: &Rule) -> String {
    let mirror = GoRule::from(rule);
    // Serializing plain structs with string keys cannot fail; fall back to "" defensively.
    let compact = serde_json::to_string(&mirror).unwrap_or_default();
    html_escape(&compact)
}

/// Go's encoder escapes these inside strings; they never occur outside strings in JSON.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn is_empty_str(s: &&str) -> bool {
    s.is_empty()
}

/// `crdv1beta1.Rule` field order and tags.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GoRule<'a> {
    action: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    ports: &'a [PortSpec],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    protocols: Vec<GoProtocol<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    l7_protocols: Vec<GoL7Protocol<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    from: &'a [Peer],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    to: &'a [Peer],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    to_services: &'a [ServiceReference],
    #[serde(skip_serializing_if = "is_empty_str")]
    name: &'a str,
    enable_logging: bool,
    #[serde(skip_serializing_if = "is_empty_str")]
    log_label: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    applied_to: &'a [AppliedTo],
}

impl<'a> From<&'a Rule> for GoRule<'a> {
    fn from(r: &'a Rule) -> Self {
        GoRule {
            action: &r.action,
            ports: &r.ports,
            protocols: r.protocols.iter().map(GoProtocol::from).collect(),
            l7_protocols: r.l7_protocols.iter().map(GoL7Protocol::from).collect(),
            from: &r.from,
            to: &r.to,
            to_services: &r.to_services,
            name: &r.name,
            enable_logging: r.enable_logging,
            log_label: &r.log_label,
            applied_to: &r.applied_to,
        }
    }
}

/// `NetworkPolicyProtocol{ICMP *ICMPProtocol; IGMP *IGMPProtocol}`.
#[derive(Serialize)]
struct GoProtocol<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp: Option<&'a IcmpProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    igmp: Option<GoIgmp<'a>>,
}

impl<'a> From<&'a ProtocolSpec> for GoProtocol<'a> {
    fn from(p: &'a ProtocolSpec) -> Self {
        GoProtocol {
            icmp: p.icmp.as_ref(),
            igmp: p.igmp.as_ref().map(|g| GoIgmp {
                igmp_type: g.igmp_type,
                group_address: g.group_address.as_deref().unwrap_or(""),
            }),
        }
    }
}

/// `IGMPProtocol{IGMPType *int32; GroupAddress string omitempty}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GoIgmp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    igmp_type: Option<i32>,
    #[serde(skip_serializing_if = "is_empty_str")]
    group_address: &'a str,
}

/// `L7Protocol{HTTP *HTTPProtocol; TLS *TLSProtocol}`.
#[derive(Serialize)]
struct GoL7Protocol<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<GoHttp<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<GoTls<'a>>,
}

impl<'a> From<&'a L7Protocol> for GoL7Protocol<'a> {
    fn from(p: &'a L7Protocol) -> Self {
        GoL7Protocol {
            http: p.http.as_ref().map(|h| GoHttp {
                host: h.host.as_deref().unwrap_or(""),
                method: h.method.as_deref().unwrap_or(""),
                path: h.path.as_deref().unwrap_or(""),
            }),
            tls: p.tls.as_ref().map(|t| GoTls {
                sni: t.sni.as_deref().unwrap_or(""),
            }),
        }
    }
}

/// `HTTPProtocol{Host, Method, Path string omitempty}`.
#[derive(Serialize)]
struct GoHttp<'a> {
    #[serde(skip_serializing_if = "is_empty_str")]
    host: &'a str,
    #[serde(skip_serializing_if = "is_empty_str")]
    method: &'a str,
    #[serde(skip_serializing_if = "is_empty_str")]
    path: &'a str,
}

/// `TLSProtocol{SNI string omitempty}`.
#[derive(Serialize)]
struct GoTls<'a> {
    #[serde(skip_serializing_if = "is_empty_str")]
    sni: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_model::antrea::AntreaPolicy;
    use tierwall_model::{Object, load_str};

    fn rule_from_json(json: &str) -> Rule {
        serde_json::from_str(json).expect("test rule")
    }

    fn sha1_name(direction: Direction, action: &str, json: &str) -> String {
        let digest = Sha1::digest(json.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}", direction.prefix(), action, &hex[..7])
    }

    #[test]
    fn reference_test_vectors() {
        let cases = [
            (
                Direction::Ingress,
                r#"{"action":"Allow","from":[{"podSelector":{"matchLabels":{"foo1":"bar1"}}}],"enableLogging":false}"#,
                "ingress-allow-c4f16d3",
            ),
            (
                Direction::Ingress,
                r#"{"action":"Allow","from":[{"podSelector":{"matchLabels":{"foo2":"bar2"}}}],"enableLogging":false}"#,
                "ingress-allow-be87b58",
            ),
            (
                Direction::Egress,
                r#"{"action":"Allow","to":[{"podSelector":{"matchLabels":{"foo2":"bar2"}}}],"enableLogging":false}"#,
                "egress-allow-44b2575",
            ),
        ];
        for (direction, json, want) in cases {
            let rule = rule_from_json(json);
            assert_eq!(go_json(&rule), json, "Go JSON of {want}");
            assert_eq!(generated_rule_name(direction, &rule), want);
        }
    }

    /// The manifest of /work/shared/scenarios/antrea/93-stats-acnp-allow-and-drop.yaml, verbatim.
    const SCENARIO_93_MANIFEST: &str = "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: cnp1
  labels:
    antrea-e2e: cnp1
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

    fn scenario_93_policy() -> AntreaPolicy {
        let objects = load_str("93-stats-acnp-allow-and-drop.yaml", SCENARIO_93_MANIFEST)
            .expect("manifest loads");
        match objects.into_iter().next().map(|o| o.object) {
            Some(Object::AntreaPolicy(_, p)) => p,
            other => panic!("expected an ACNP, got {other:?}"),
        }
    }

    #[test]
    fn scenario_93_rule_names() {
        let policy = scenario_93_policy();
        let names: Vec<String> = policy
            .spec
            .ingress
            .iter()
            .map(|r| generated_rule_name(Direction::Ingress, r))
            .collect();
        assert_eq!(names, ["ingress-allow-fa89084", "ingress-drop-f171382"]);
        assert_eq!(
            go_json(&policy.spec.ingress[0]),
            r#"{"action":"Allow","ports":[{"protocol":"UDP","port":800}],"from":[{"podSelector":{"matchLabels":{"antrea-e2e":"test-client"}}}],"enableLogging":false}"#
        );
    }

    /// Guards against drift between the embedded manifest and the shared scenario file, when
    /// the shared tree is present.
    #[test]
    fn scenario_93_manifest_matches_shared_file() {
        let path = "/work/shared/scenarios/antrea/93-stats-acnp-allow-and-drop.yaml";
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let indented: String = SCENARIO_93_MANIFEST
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect();
        assert!(text.contains(&indented), "the manifest of {path} changed");
    }

    #[test]
    fn go_json_field_order_and_omitempty() {
        // Every field set, to pin the Go order of Rule, Port, Peer, AppliedTo and selectors.
        let json = r#"{"action":"Drop","ports":[{"protocol":"TCP","port":"http","endPort":90,"sourcePort":1000,"sourceEndPort":2000}],"protocols":[{"icmp":{"icmpType":8,"icmpCode":0}},{"igmp":{"igmpType":17,"groupAddress":"224.0.0.1"}}],"l7Protocols":[{"http":{"host":"a","method":"GET","path":"/x"}},{"tls":{"sni":"s"}}],"from":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.1.0.0/16"]},"podSelector":{"matchLabels":{"a":"1","b":"2"},"matchExpressions":[{"key":"k","operator":"In","values":["v"]}]},"namespaceSelector":{},"namespaces":{"match":"Self","sameLabels":["l"]},"externalEntitySelector":{},"group":"g","fqdn":"f","serviceAccount":{"name":"sa","namespace":"ns"},"nodeSelector":{},"scope":"Cluster"}],"to":[{"ipBlock":{"cidr":""}}],"toServices":[{"name":"s","namespace":"n","scope":"ClusterSet"}],"name":"r","enableLogging":true,"logLabel":"l","appliedTo":[{"podSelector":{},"namespaceSelector":{},"externalEntitySelector":{},"group":"g","serviceAccount":{"name":"a"},"service":{"namespace":"n"},"nodeSelector":{}}]}"#;
        let rule = rule_from_json(json);
        assert_eq!(go_json(&rule), json);
    }

    #[test]
    fn go_json_differences_from_serde() {
        // matchLabels: {} and empty lists are omitted; empty Go strings tagged omitempty are
        // omitted although the model holds them as Some(""); a pointer to "" (protocol) is kept.
        let rule = rule_from_json(
            r#"{"action":"Allow","ports":[{"protocol":""}],"protocols":[{"igmp":{"groupAddress":""}}],"l7Protocols":[{"http":{"host":"","method":"","path":""}},{"tls":{"sni":""}}],"from":[{"podSelector":{"matchLabels":{},"matchExpressions":[]}}],"to":[],"appliedTo":[]}"#,
        );
        assert_eq!(
            go_json(&rule),
            r#"{"action":"Allow","ports":[{"protocol":""}],"protocols":[{"igmp":{}}],"l7Protocols":[{"http":{}},{"tls":{}}],"from":[{"podSelector":{}}],"enableLogging":false}"#
        );
    }

    #[test]
    fn go_json_html_escaping() {
        let rule = rule_from_json(
            r#"{"action":"Allow","to":[{"fqdn":"a<b>&c\u2028"}],"logLabel":"x\"y\\z\n"}"#,
        );
        let json = go_json(&rule);
        assert_eq!(
            json,
            r#"{"action":"Allow","to":[{"fqdn":"a\u003cb\u003e\u0026c\u2028"}],"enableLogging":false,"logLabel":"x\"y\\z\n"}"#
        );
        assert_eq!(
            generated_rule_name(Direction::Egress, &rule),
            sha1_name(Direction::Egress, "allow", &json)
        );
    }
}
