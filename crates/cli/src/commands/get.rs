//! `tierwall get tiers|tr|acnp|annp|cg|grp|netpol`: the kubectl views of the stored objects
//! (printer columns of the Antrea CRDs, `-o wide|yaml|json`, `--sort-by=<jsonpath>`), and with
//! `--sort-by=effectivePriority` antctl's `get netpol` view of every policy in enforcement order.
//!
//! ```text
//!  tr      NAME PRIORITY AGE
//!  acnp    NAME TIER PRIORITY DESIRED NODES CURRENT NODES AGE [APPLIED-TO-PODS RULES]
//!  annp    NAMESPACE NAME TIER PRIORITY DESIRED NODES CURRENT NODES AGE [APPLIED-TO-PODS RULES]
//!  cg      NAME AGE                grp     NAMESPACE NAME AGE
//!  netpol  NAMESPACE NAME POD-SELECTOR AGE
//!  --sort-by=effectivePriority: NAME APPLIED-TO RULES SOURCE TIER-PRIORITY PRIORITY (antctl)
//! ```
//!
//! AGE is computed from metadata.creationTimestamp (kubectl style: `54s`, `27h`, `5d`) at an
//! injected "now"; it is left out when no listed object has a creationTimestamp.

use crate::output::{self, GetFormat};
use anyhow::bail;
use serde::Serialize;
use std::cmp::Ordering;
use std::io::Write;
use std::time::SystemTime;
use tierwall_engine::Engine;
use tierwall_engine::compile::{CompiledPolicy, GroupRef};
use tierwall_engine::evaluate::PolicyRef;
use tierwall_engine::status::{applied_pods, group_conditions, policy_status};
use tierwall_engine::table::K8S_NP_TIER_PRIORITY;
use tierwall_model::{Kind, Object};

/// The `--sort-by` value that selects antctl's enforcement-order view.
pub const EFFECTIVE_PRIORITY: &str = "effectivePriority";

/// Options of `tierwall get`.
#[derive(Debug, Clone)]
pub struct GetOptions {
    pub resource: String,
    pub output: GetFormat,
    pub sort_by: Option<String>,
}

/// Kinds `tierwall get` lists.
const LISTABLE: [Kind; 6] = [
    Kind::Tier,
    Kind::ClusterNetworkPolicy,
    Kind::AntreaNetworkPolicy,
    Kind::ClusterGroup,
    Kind::Group,
    Kind::NetworkPolicy,
];

/// Parses the resource argument (`tiers`, `tr`, `acnp`, `clusternetworkpolicies`, ...).
pub fn parse_resource(text: &str) -> anyhow::Result<Kind> {
    let name = text.split('.').next().unwrap_or(text);
    match Kind::from_cli_name(name) {
        Some(k) if LISTABLE.contains(&k) => Ok(k),
        _ => bail!(
            "unsupported resource type {text:?}: tierwall get lists tiers (tr), clusternetworkpolicies (acnp), antreanetworkpolicies (annp), clustergroups (cg), groups (grp) and networkpolicies (netpol)"
        ),
    }
}

/// Runs `get` against an engine: the listing goes to `out`, "No resources found" to `err`.
pub fn run(
    engine: &Engine,
    opts: &GetOptions,
    now: SystemTime,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let kind = parse_resource(&opts.resource)?;
    let text = render(engine, kind, opts, now)?;
    match text {
        Some(t) => out.write_all(t.as_bytes())?,
        None => writeln!(err, "No resources found")?,
    }
    Ok(0)
}

/// The output of `get`; `None` for an empty table (kubectl prints "No resources found").
pub fn render(
    engine: &Engine,
    kind: Kind,
    opts: &GetOptions,
    now: SystemTime,
) -> anyhow::Result<Option<String>> {
    if opts.sort_by.as_deref() == Some(EFFECTIVE_PRIORITY) {
        if !kind.is_policy() {
            bail!(
                "--sort-by=effectivePriority applies to policies: use it with netpol, acnp or annp"
            );
        }
        return effective_priority_view(engine, opts.output).map(Some);
    }
    let mut items: Vec<(&Object, serde_json::Value)> = engine
        .store()
        .of_kind(kind)
        .map(|o| (o, object_json(engine, o)))
        .collect();
    if let Some(path) = &opts.sort_by {
        let segments = json_path(path)?;
        items.sort_by(|a, b| compare_json(lookup(&a.1, &segments), lookup(&b.1, &segments)));
    }
    match opts.output {
        GetFormat::Json => {
            return output::to_json(&output::list_document(
                items.into_iter().map(|i| i.1).collect(),
            ))
            .map(Some);
        }
        GetFormat::Yaml => {
            return output::to_yaml(&output::list_document(
                items.into_iter().map(|i| i.1).collect(),
            ))
            .map(Some);
        }
        GetFormat::Table | GetFormat::Wide => {}
    }
    if items.is_empty() {
        return Ok(None);
    }
    let wide = opts.output == GetFormat::Wide;
    let (mut header, mut rows) = table(engine, kind, items.iter().map(|i| i.0), wide, now);
    // AGE says what is known: without any creationTimestamp the column would be all
    // `<unknown>`, so it is left out.
    let known = items
        .iter()
        .any(|i| i.0.metadata().creation_timestamp.is_some());
    if !known && let Some(at) = header.iter().position(|h| *h == "AGE") {
        header.remove(at);
        for row in &mut rows {
            row.remove(at);
        }
    }
    Ok(Some(output::kubectl_table(&header, &rows)))
}

/// The columns and rows of the kubectl table of one kind.
fn table<'a>(
    engine: &Engine,
    kind: Kind,
    objects: impl Iterator<Item = &'a Object>,
    wide: bool,
    now: SystemTime,
) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let mut header: Vec<&'static str> = match kind {
        Kind::Tier => vec!["NAME", "PRIORITY", "AGE"],
        Kind::ClusterNetworkPolicy => vec![
            "NAME",
            "TIER",
            "PRIORITY",
            "DESIRED NODES",
            "CURRENT NODES",
            "AGE",
        ],
        Kind::AntreaNetworkPolicy => {
            vec![
                "NAMESPACE",
                "NAME",
                "TIER",
                "PRIORITY",
                "DESIRED NODES",
                "CURRENT NODES",
                "AGE",
            ]
        }
        Kind::Group => vec!["NAMESPACE", "NAME", "AGE"],
        Kind::NetworkPolicy => vec!["NAMESPACE", "NAME", "POD-SELECTOR", "AGE"],
        _ => vec!["NAME", "AGE"],
    };
    let antrea_policy = matches!(kind, Kind::ClusterNetworkPolicy | Kind::AntreaNetworkPolicy);
    if wide && antrea_policy {
        header.extend(["APPLIED-TO-PODS", "RULES"]);
    }
    let mut rows = Vec::new();
    for o in objects {
        let meta = o.metadata();
        let age = output::age(meta.creation_timestamp.as_deref(), now);
        let mut row = Vec::new();
        if kind.is_namespaced() {
            row.push(meta.namespace.clone().unwrap_or_else(|| "default".into()));
        }
        row.push(meta.name.clone());
        match o {
            Object::Tier(t) => row.push(t.spec.priority.to_string()),
            Object::AntreaPolicy(_, p) => {
                let compiled = engine.table().policy(&o.key());
                let (desired, current) = compiled
                    .map(|c| {
                        let s = policy_status(engine.cluster(), c, None);
                        (s.desired_nodes_realized, s.current_nodes_realized)
                    })
                    .unwrap_or_default();
                row.push(p.spec.tier.clone());
                row.push(output::format_float(p.spec.priority));
                row.push(desired.to_string());
                row.push(current.to_string());
            }
            Object::NetworkPolicy(np) => {
                let s = np.spec.pod_selector.to_selector_string();
                row.push(if s.is_empty() {
                    "<none>".to_string()
                } else {
                    s
                });
            }
            _ => {}
        }
        row.push(age);
        if wide && antrea_policy {
            let compiled = engine.table().policy(&o.key());
            let pods = compiled.map_or(0, |c| applied_pods(engine.cluster(), c).count());
            row.push(pods.to_string());
            row.push(compiled.map_or(0, |c| c.rules.len()).to_string());
        }
        rows.push(row);
    }
    (header, rows)
}

/// The object as `-o yaml|json` prints it: as stored, with the `status` Antrea's controller
/// would report (engine mode: every Node of the span is realized).
pub fn object_json(engine: &Engine, object: &Object) -> serde_json::Value {
    let mut v = serde_json::to_value(object).unwrap_or_default();
    let status = match object {
        Object::AntreaPolicy(_, p) if p.status.is_none() => engine
            .table()
            .policy(&object.key())
            .and_then(|c| serde_json::to_value(policy_status(engine.cluster(), c, None)).ok()),
        Object::AntreaGroup(kind, g) if g.status.is_none() => {
            let key = object.key();
            let group = match (kind, key.namespace) {
                (Kind::Group, Some(ns)) => GroupRef::Namespaced(ns, key.name),
                _ => GroupRef::Cluster(key.name),
            };
            let conditions = group_conditions(engine.cluster(), &group);
            (!conditions.is_empty()).then(|| serde_json::json!({ "conditions": conditions }))
        }
        _ => None,
    };
    if let (Some(status), Some(map)) = (status, v.as_object_mut()) {
        map.insert("status".into(), status);
    }
    v
}

/// One row of antctl's `get netpol` view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveRow {
    /// The policy's `ns/name` (antctl shows the internal UID-based name).
    pub name: String,
    /// Number of Pods the policy applies to (antctl shows the AppliedToGroup names).
    pub applied_to: usize,
    pub rules: usize,
    /// `Type:ns/name`.
    pub source: String,
    pub tier_priority: Option<i32>,
    pub priority: Option<f64>,
}

impl EffectiveRow {
    fn effective_tier(&self) -> i32 {
        self.tier_priority.unwrap_or(K8S_NP_TIER_PRIORITY)
    }

    fn order(&self, other: &Self) -> Ordering {
        self.effective_tier()
            .cmp(&other.effective_tier())
            .then(
                self.priority
                    .unwrap_or(0.0)
                    .total_cmp(&other.priority.unwrap_or(0.0)),
            )
            .then_with(|| self.name.cmp(&other.name))
    }
}

fn effective_row(engine: &Engine, p: &CompiledPolicy) -> EffectiveRow {
    let key = &p.key;
    let name = match &key.namespace {
        Some(ns) => format!("{ns}/{}", key.name),
        None => key.name.clone(),
    };
    let tier_priority = p
        .tier
        .as_ref()
        .map(|t| engine.cluster().tiers.get(t).copied().unwrap_or(250));
    EffectiveRow {
        name,
        applied_to: applied_pods(engine.cluster(), p).count(),
        rules: p.rules.len(),
        source: PolicyRef::from_key(key).to_string(),
        tier_priority,
        priority: p.tier.as_ref().map(|_| p.priority),
    }
}

/// Every policy (Antrea-native and Kubernetes), sorted by tier priority (K8s NP = 251), policy
/// priority, then name.
pub fn effective_rows(engine: &Engine) -> Vec<EffectiveRow> {
    let mut rows: Vec<EffectiveRow> = engine
        .table()
        .policies()
        .map(|p| effective_row(engine, p))
        .collect();
    rows.sort_by(EffectiveRow::order);
    rows
}

fn effective_priority_view(engine: &Engine, format: GetFormat) -> anyhow::Result<String> {
    let rows = effective_rows(engine);
    match format {
        GetFormat::Json => return output::to_json(&rows),
        GetFormat::Yaml => return output::to_yaml(&rows),
        GetFormat::Table | GetFormat::Wide => {}
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.applied_to.to_string(),
                r.rules.to_string(),
                r.source.clone(),
                r.tier_priority.map(|t| t.to_string()).unwrap_or_default(),
                r.priority.map(output::format_float).unwrap_or_default(),
            ]
        })
        .collect();
    Ok(output::antctl_table(
        &[
            "NAME",
            "APPLIED-TO",
            "RULES",
            "SOURCE",
            "TIER-PRIORITY",
            "PRIORITY",
        ],
        &cells,
    ))
}

/// Parses a kubectl `--sort-by` JSONPath (`.spec.priority`, `{.metadata.name}`) into fields.
fn json_path(text: &str) -> anyhow::Result<Vec<String>> {
    let t = text.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(t);
    let Some(t) = t.strip_prefix('.') else {
        bail!(
            "--sort-by {text:?}: expected {EFFECTIVE_PRIORITY} or a JSONPath such as .spec.priority or .metadata.name"
        );
    };
    let segments: Vec<String> = t.split('.').map(str::to_string).collect();
    if segments.iter().any(String::is_empty) {
        bail!("--sort-by {text:?}: empty field in the JSONPath");
    }
    Ok(segments)
}

fn lookup<'v>(value: &'v serde_json::Value, segments: &[String]) -> Option<&'v serde_json::Value> {
    segments.iter().try_fold(value, |v, s| v.get(s.as_str()))
}

/// kubectl's sort: missing first, then numbers by value, strings lexically.
fn compare_json(a: Option<&serde_json::Value>, b: Option<&serde_json::Value>) -> Ordering {
    use serde_json::Value;
    let rank = |v: Option<&Value>| match v {
        None | Some(Value::Null) => 0,
        Some(Value::Bool(_)) => 1,
        Some(Value::Number(_)) => 2,
        Some(Value::String(_)) => 3,
        Some(_) => 4,
    };
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata: {name: guard, creationTimestamp: "2024-05-01T07:00:00Z"}
spec: {priority: 80}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: acnp-1}
spec:
  priority: 1.5
  appliedTo: [{podSelector: {matchLabels: {pod: a}}}]
  ingress: [{name: r1, action: Drop}]
---
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: annp-1, namespace: y}
spec:
  tier: guard
  priority: 2
  appliedTo: [{podSelector: {}}]
  egress: [{name: e1, action: Allow}, {name: e2, action: Drop}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np-1, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: z}
spec: {podSelector: {}}
"#;

    fn engine() -> Engine {
        let mut e = Engine::new();
        for o in crate::input::standard_cluster_objects() {
            e.apply(o).unwrap_or_else(|err| panic!("{err}"));
        }
        for o in tierwall_model::load_str("m.yaml", MANIFEST).unwrap_or_else(|err| panic!("{err}"))
        {
            e.apply(o.object).unwrap_or_else(|err| panic!("{err}"));
        }
        e
    }

    fn get(resource: &str, output: GetFormat, sort_by: Option<&str>) -> String {
        let opts = GetOptions {
            resource: resource.into(),
            output,
            sort_by: sort_by.map(Into::into),
        };
        let kind = parse_resource(resource).unwrap_or_else(|e| panic!("{e}"));
        let now = output::at_epoch_seconds(
            output::parse_rfc3339("2024-05-02T10:00:00Z").unwrap_or(0) as u64,
        );
        render(&engine(), kind, &opts, now)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_default()
    }

    #[test]
    fn tiers_table() {
        let want = [
            "NAME          PRIORITY   AGE",
            "application   250        <unknown>",
            "baseline      253        <unknown>",
            "emergency     50         <unknown>",
            "guard         80         27h",
            "networkops    150        <unknown>",
            "platform      200        <unknown>",
            "securityops   100        <unknown>",
        ];
        assert_eq!(get("tiers", GetFormat::Table, None), want.join("\n") + "\n");
        let sorted = get("tr", GetFormat::Table, Some(".spec.priority"));
        let names: Vec<&str> = sorted
            .lines()
            .skip(1)
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert_eq!(
            names,
            [
                "emergency",
                "guard",
                "securityops",
                "networkops",
                "platform",
                "application",
                "baseline"
            ]
        );
    }

    #[test]
    fn policy_tables() {
        // No listed object has a creationTimestamp: no AGE column.
        let acnp = [
            "NAME     TIER          PRIORITY   DESIRED NODES   CURRENT NODES",
            "acnp-1   application   1.5        1               1",
        ];
        assert_eq!(get("acnp", GetFormat::Table, None), acnp.join("\n") + "\n");
        let annp_wide = [
            "NAMESPACE   NAME     TIER    PRIORITY   DESIRED NODES   CURRENT NODES   APPLIED-TO-PODS   RULES",
            "y           annp-1   guard   2          3               3               3                 2",
        ];
        assert_eq!(
            get("annp", GetFormat::Wide, None),
            annp_wide.join("\n") + "\n"
        );
        let netpol = [
            "NAMESPACE   NAME       POD-SELECTOR",
            "x           np-1       pod=b",
            "z           deny-all   <none>",
        ];
        assert_eq!(
            get("netpol", GetFormat::Table, None),
            netpol.join("\n") + "\n"
        );
        assert_eq!(get("cg", GetFormat::Table, None), "");
    }

    #[test]
    fn effective_priority_view_lists_every_policy_in_enforcement_order() {
        let want = [
            "NAME       APPLIED-TO RULES SOURCE                            TIER-PRIORITY PRIORITY",
            "y/annp-1   3          2     AntreaNetworkPolicy:y/annp-1      80            2       ",
            "acnp-1     3          1     AntreaClusterNetworkPolicy:acnp-1 250           1.5     ",
            "x/np-1     1          1     K8sNetworkPolicy:x/np-1           <NONE>        <NONE>  ",
            "z/deny-all 3          0     K8sNetworkPolicy:z/deny-all       <NONE>        <NONE>  ",
        ];
        assert_eq!(
            get("netpol", GetFormat::Table, Some(EFFECTIVE_PRIORITY)),
            want.join("\n") + "\n"
        );
        let json = get("acnp", GetFormat::Json, Some(EFFECTIVE_PRIORITY));
        assert!(
            json.contains("\"source\": \"AntreaClusterNetworkPolicy:acnp-1\""),
            "{json}"
        );
    }

    #[test]
    fn yaml_and_json_print_a_list_with_status() {
        let json = get("acnp", GetFormat::Json, None);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(v["kind"], "List");
        assert_eq!(v["items"][0]["spec"]["tier"], "application");
        assert_eq!(v["items"][0]["status"]["desiredNodesRealized"], 1);
        let yaml = get("annp", GetFormat::Yaml, None);
        assert!(yaml.contains("kind: List"), "{yaml}");
        let back = tierwall_model::load_str("y", &yaml).unwrap_or_default();
        assert_eq!(back.len(), 1);
    }

    #[test]
    fn rejects_unknown_resources_and_sorts() {
        assert!(parse_resource("pods").is_err());
        assert_eq!(
            parse_resource("clusternetworkpolicies.crd.antrea.io").ok(),
            Some(Kind::ClusterNetworkPolicy)
        );
        let opts = GetOptions {
            resource: "tr".into(),
            output: GetFormat::Table,
            sort_by: Some(EFFECTIVE_PRIORITY.into()),
        };
        assert!(render(&engine(), Kind::Tier, &opts, output::now()).is_err());
        assert!(json_path("spec.priority").is_err());
        assert_eq!(
            json_path("{.spec.priority}").ok(),
            Some(vec!["spec".to_string(), "priority".to_string()])
        );
    }
}
