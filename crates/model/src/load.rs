//! Manifest loading: multi-document YAML or JSON (a single object, an array, or a `kind: List`),
//! from a string, a file, a directory (every `*.yaml`, `*.yml`, `*.json`, sorted) or stdin (`-`).
//!
//! Every error names the file, the line and column, the object (when its kind and name could be
//! read) and the field path, e.g.
//! `policy.yaml:8:7: ClusterNetworkPolicy acnp-1: spec.ingress[0].ports[0].prot: unknown field ...`.

use crate::object::{Kind, Object};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

/// An object with the place it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedObject {
    pub object: Object,
    /// File name (or `<stdin>`, or the label given to `load_str`).
    pub source: String,
    /// 1-based line where the object's document starts.
    pub line: usize,
}

/// A load failure with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub source_name: String,
    pub line: usize,
    pub column: usize,
    /// `Kind name` or `Kind ns/name` when known.
    pub object: Option<String>,
    /// Field path such as `spec.ingress[0].ports[0].port`, when known.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.source_name, self.line, self.column)?;
        if let Some(o) = &self.object {
            write!(f, "{o}: ")?;
        }
        if let Some(p) = &self.field
            && !p.is_empty()
            && p != "."
        {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<NameMeta>,
}

#[derive(Deserialize, Default)]
struct NameMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

impl TypeMeta {
    fn describe(&self) -> Option<String> {
        let kind = self.kind.as_deref()?;
        let meta = self.metadata.as_ref();
        let name = meta.and_then(|m| m.name.as_deref()).unwrap_or("<unnamed>");
        Some(match meta.and_then(|m| m.namespace.as_deref()) {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        })
    }
}

/// Loads all objects in `text`. `source_name` is used in errors. Fails with the first error.
pub fn load_str(source_name: &str, text: &str) -> Result<Vec<LoadedObject>, LoadError> {
    load_str_each(source_name, text).into_iter().collect()
}

/// Loads a file, a directory (recursively, sorted) or `-` for stdin. Fails with the first error.
pub fn load_path(path: &Path) -> Result<Vec<LoadedObject>, LoadError> {
    load_path_each(path).into_iter().collect()
}

/// Loads every document independently: one result per YAML document (a JSON text, or a
/// `kind: List` document, gives one result per object, or one error for the whole text), so a bad
/// document does not hide the objects of the others. For `tierwall validate`.
pub fn load_str_each(source_name: &str, text: &str) -> Vec<Result<LoadedObject, LoadError>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return match load_json(source_name, text) {
            Ok(objects) => objects.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
    }
    let mut results = Vec::new();
    for (start_line, doc) in split_yaml_documents(text) {
        let mut out = Vec::new();
        match load_yaml_document(source_name, start_line, &doc, &mut out) {
            Ok(()) => results.extend(out.into_iter().map(Ok)),
            Err(e) => results.push(Err(e)),
        }
    }
    results
}

/// `load_path` that goes on past failures: every file of a directory and every document of a file
/// is loaded on its own (see `load_str_each`); an unreadable file or directory is one error.
pub fn load_path_each(path: &Path) -> Vec<Result<LoadedObject, LoadError>> {
    if path == Path::new("-") {
        let mut text = String::new();
        return match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            Ok(_) => load_str_each("<stdin>", &text),
            Err(e) => vec![Err(io_error("<stdin>", e))],
        };
    }
    let name = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return vec![Err(io_error(&name, e))],
    };
    if meta.is_dir() {
        let mut files = Vec::new();
        if let Err(e) = collect_manifest_files(path, &mut files) {
            return vec![Err(io_error(&name, e))];
        }
        return files.iter().flat_map(|f| load_path_each(f)).collect();
    }
    match std::fs::read_to_string(path) {
        Ok(text) => load_str_each(&name, &text),
        Err(e) => vec![Err(io_error(&name, e))],
    }
}

fn collect_manifest_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_manifest_files(&p, out)?;
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

fn io_error(source: &str, e: std::io::Error) -> LoadError {
    LoadError {
        source_name: source.to_string(),
        line: 0,
        column: 0,
        object: None,
        field: None,
        message: e.to_string(),
    }
}

/// Splits a YAML stream on `---` document markers, keeping each document's starting line.
/// Documents that hold only comments or whitespace are dropped.
fn split_yaml_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_marker = line == "---"
            || line.starts_with("--- ")
            || line.starts_with("---\t")
            || line == "..."
            || line.starts_with("---#");
        if is_marker {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 2;
            if let Some(rest) = line.strip_prefix("--- ") {
                // Content on the marker line (`--- {a: b}`) belongs to the next document.
                current.push_str(rest);
                current.push('\n');
                start = i + 1;
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push((start, current));
    docs.into_iter()
        .filter(|(_, d)| {
            d.lines().any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
        })
        .collect()
}

fn load_yaml_document(
    source: &str,
    start_line: usize,
    doc: &str,
    out: &mut Vec<LoadedObject>,
) -> Result<(), LoadError> {
    // Pad with newlines so that parser positions are positions in the whole file.
    let padded = format!("{}{}", "\n".repeat(start_line.saturating_sub(1)), doc);
    let meta: TypeMeta = serde_saphyr::from_str(&padded)
        .map_err(|e| yaml_error(source, start_line, None, None, &e))?;
    let describe = meta.describe();
    if meta.kind.as_deref() == Some("List") {
        let list: serde_json::Value = serde_saphyr::from_str(&padded)
            .map_err(|e| yaml_error(source, start_line, None, None, &e))?;
        return load_json_value(source, start_line, list, out);
    }
    let kind = resolve_kind(source, start_line, &meta)?;
    let typed = |e: (Option<String>, Box<serde_saphyr::Error>)| {
        yaml_error(source, start_line, describe.clone(), e.0, &e.1)
    };
    let object = match kind {
        Kind::Tier => Object::Tier(yaml_typed(&padded).map_err(typed)?),
        Kind::ClusterNetworkPolicy | Kind::AntreaNetworkPolicy => {
            Object::AntreaPolicy(kind, yaml_typed(&padded).map_err(typed)?)
        }
        Kind::ClusterGroup | Kind::Group => {
            Object::AntreaGroup(kind, yaml_typed(&padded).map_err(typed)?)
        }
        Kind::NetworkPolicy => Object::NetworkPolicy(yaml_typed(&padded).map_err(typed)?),
        Kind::Namespace => Object::Namespace(yaml_typed(&padded).map_err(typed)?),
        Kind::Pod => Object::Pod(yaml_typed(&padded).map_err(typed)?),
        Kind::Service => Object::Service(yaml_typed(&padded).map_err(typed)?),
        Kind::Node => Object::Node(yaml_typed(&padded).map_err(typed)?),
        Kind::ServiceAccount => Object::ServiceAccount(yaml_typed(&padded).map_err(typed)?),
        Kind::Egress => Object::Egress(yaml_typed(&padded).map_err(typed)?),
        Kind::ExternalIpPool | Kind::IpPool => {
            Object::AntreaIpPool(kind, yaml_typed(&padded).map_err(typed)?)
        }
        Kind::Ingress => Object::Ingress(yaml_typed(&padded).map_err(typed)?),
        Kind::Gateway => Object::Gateway(yaml_typed(&padded).map_err(typed)?),
    };
    out.push(LoadedObject {
        object,
        source: source.to_string(),
        line: start_line,
    });
    Ok(())
}

/// One typed YAML parse that also records the field path of a failure.
fn yaml_typed<T: DeserializeOwned>(
    text: &str,
) -> Result<T, (Option<String>, Box<serde_saphyr::Error>)> {
    let mut field = None;
    serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            field = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| (field, Box::new(e)))
}

fn yaml_error(
    source: &str,
    start_line: usize,
    object: Option<String>,
    field: Option<String>,
    e: &serde_saphyr::Error,
) -> LoadError {
    let plain = e.without_snippet().to_string();
    let (line, column) = e
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((start_line, 1));
    LoadError {
        source_name: source.to_string(),
        line,
        column,
        object,
        field,
        message: strip_location_prefix(&plain),
    }
}

/// serde-saphyr prints `error: line L column C: message`; the position is reported separately.
fn strip_location_prefix(message: &str) -> String {
    let m = message.strip_prefix("error: ").unwrap_or(message);
    if let Some(rest) = m.strip_prefix("line ")
        && let Some(idx) = rest.find(": ")
        && rest[..idx]
            .split(" column ")
            .all(|p| p.chars().all(|c| c.is_ascii_digit()))
    {
        return rest[idx + 2..]
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
    }
    m.lines().next().unwrap_or_default().to_string()
}

fn resolve_kind(source: &str, line: usize, meta: &TypeMeta) -> Result<Kind, LoadError> {
    let err = |message: String, field: &str| LoadError {
        source_name: source.to_string(),
        line,
        column: 1,
        object: meta.describe(),
        field: Some(field.to_string()),
        message,
    };
    let kind = meta
        .kind
        .as_deref()
        .ok_or_else(|| err("missing field `kind`".into(), "kind"))?;
    let api = meta
        .api_version
        .as_deref()
        .ok_or_else(|| err("missing field `apiVersion`".into(), "apiVersion"))?;
    Kind::from_type_meta(api, kind).ok_or_else(|| {
        err(format!("unknown kind {kind:?} in apiVersion {api:?} (tierwall loads Antrea Tier, ClusterNetworkPolicy, NetworkPolicy, ClusterGroup, Group; networking.k8s.io/v1 NetworkPolicy; v1 Namespace, Pod, Service, Node, ServiceAccount)"), "kind")
    })
}

fn load_json(source: &str, text: &str) -> Result<Vec<LoadedObject>, LoadError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| LoadError {
        source_name: source.to_string(),
        line: e.line(),
        column: e.column(),
        object: None,
        field: None,
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    load_json_value(source, 1, value, &mut out)?;
    Ok(out)
}

fn load_json_value(
    source: &str,
    line: usize,
    value: serde_json::Value,
    out: &mut Vec<LoadedObject>,
) -> Result<(), LoadError> {
    match value {
        serde_json::Value::Array(items) => {
            for item in items {
                load_json_value(source, line, item, out)?;
            }
            Ok(())
        }
        serde_json::Value::Object(ref map)
            if map.get("kind").and_then(|k| k.as_str()) == Some("List") =>
        {
            let items = map
                .get("items")
                .cloned()
                .unwrap_or(serde_json::Value::Array(vec![]));
            load_json_value(source, line, items, out)
        }
        value => {
            let meta: TypeMeta = serde_json::from_value(value.clone()).unwrap_or_default();
            let kind = resolve_kind(source, line, &meta)?;
            let object = object_from_value(kind, value).map_err(|(field, message)| LoadError {
                source_name: source.to_string(),
                line,
                column: 1,
                object: meta.describe(),
                field: Some(field),
                message,
            })?;
            out.push(LoadedObject {
                object,
                source: source.to_string(),
                line,
            });
            Ok(())
        }
    }
}

fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| (e.path().to_string(), e.inner().to_string()))
}

/// Builds the typed object for `kind` from a JSON value; the error is (field path, message).
pub fn object_from_value(kind: Kind, value: serde_json::Value) -> Result<Object, (String, String)> {
    Ok(match kind {
        Kind::Tier => Object::Tier(from_value(value)?),
        Kind::ClusterNetworkPolicy | Kind::AntreaNetworkPolicy => {
            Object::AntreaPolicy(kind, from_value(value)?)
        }
        Kind::ClusterGroup | Kind::Group => Object::AntreaGroup(kind, from_value(value)?),
        Kind::NetworkPolicy => Object::NetworkPolicy(from_value(value)?),
        Kind::Namespace => Object::Namespace(from_value(value)?),
        Kind::Pod => Object::Pod(from_value(value)?),
        Kind::Service => Object::Service(from_value(value)?),
        Kind::Node => Object::Node(from_value(value)?),
        Kind::ServiceAccount => Object::ServiceAccount(from_value(value)?),
        Kind::Egress => Object::Egress(from_value(value)?),
        Kind::ExternalIpPool | Kind::IpPool => Object::AntreaIpPool(kind, from_value(value)?),
        Kind::Ingress => Object::Ingress(from_value(value)?),
        Kind::Gateway => Object::Gateway(from_value(value)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_unknown_field_with_position_and_path() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n---\napiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata:\n  name: p\nspec:\n  priority: 1\n  ingress:\n  - action: Allow\n    ports:\n    - protocol: TCP\n      prot: 80\n";
        let err = load_str("f.yaml", text).unwrap_err();
        assert_eq!((err.line, err.column), (16, 7), "{err}");
        assert_eq!(err.object.as_deref(), Some("ClusterNetworkPolicy p"));
        assert_eq!(err.field.as_deref(), Some("spec.ingress[0].ports[0].prot"));
        assert!(err.to_string().starts_with("f.yaml:16:7: ClusterNetworkPolicy p: spec.ingress[0].ports[0].prot: unknown field `prot`"), "{err}");
    }

    #[test]
    fn reports_unknown_kind() {
        let err = load_str(
            "f.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        )
        .unwrap_err();
        assert!(err.message.contains("unknown kind \"ConfigMap\""), "{err}");
    }

    #[test]
    fn loads_multi_document_yaml_and_json_lists() {
        let yaml = "# c\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n---\napiVersion: crd.antrea.io/v1alpha1\nkind: Tier\nmetadata: {name: t}\nspec: {priority: 10}\n";
        let objs = load_str("f.yaml", yaml).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].line, 8);
        assert_eq!(objs[1].object.kind(), Kind::Tier);
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"y"}}]}"#;
        let objs = load_str("f.json", json).unwrap();
        assert_eq!(objs[0].object.key().to_string(), "ns/y");
        let bad = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"hostNetwrk":true}}"#;
        let err = load_str("f.json", bad).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.hostNetwrk"), "{err}");
    }
}

#[cfg(test)]
mod each_tests {
    use super::*;

    #[test]
    fn load_str_each_goes_on_past_a_bad_document() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: y}\nspec: {bogus: 1}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: z}\n";
        let results = load_str_each("f.yaml", text);
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[2].is_ok());
        let err = results[1].as_ref().unwrap_err();
        assert_eq!(err.object.as_deref(), Some("Pod y"), "{err}");
        assert_eq!(err.line, 8, "{err}");
        assert_eq!(load_str_each("f.json", "{").len(), 1);
    }
}

#[cfg(test)]
mod k8s_field_name_tests {
    use super::*;

    #[test]
    fn pod_status_uses_kubernetes_field_names() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers:\n  - name: c\n    ports:\n    - {containerPort: 80, hostIP: 0.0.0.0}\nstatus:\n  podIP: 10.0.0.1\n  podIPs: [{ip: 10.0.0.1}]\n  hostIP: 172.18.0.2\n";
        let objs = load_str("p.yaml", text).unwrap();
        let Object::Pod(pod) = &objs[0].object else {
            panic!("not a pod")
        };
        assert_eq!(
            pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()),
            Some("10.0.0.1")
        );
    }
}

#[cfg(test)]
mod inventory_kind_tests {
    use super::*;

    fn one(text: &str) -> Object {
        match load_str("inv.yaml", text) {
            Ok(mut objects) if objects.len() == 1 => objects.remove(0).object,
            other => panic!("expected one object, got {other:?}"),
        }
    }

    #[test]
    fn loads_egress_with_spec_and_status_ips() {
        for api in ["crd.antrea.io/v1beta1", "crd.antrea.io/v1alpha2"] {
            let text = format!(
                "apiVersion: {api}\nkind: Egress\nmetadata: {{name: eg}}\nspec:\n  appliedTo:\n    podSelector: {{matchLabels: {{app: web}}}}\n    namespaceSelector: {{}}\n  egressIPs: [10.10.0.2, 10.10.0.1]\n  externalIPPool: pool\n  bandwidth: {{rate: 10M, burst: 20M}}\nstatus: {{egressNode: n0, egressIP: 10.10.0.3, conditions: []}}\n"
            );
            let Object::Egress(eg) = one(&text) else {
                panic!("not an Egress");
            };
            assert_eq!(eg.ips(), vec!["10.10.0.1", "10.10.0.2", "10.10.0.3"]);
            assert_eq!(eg.spec.external_ip_pool.as_deref(), Some("pool"));
            assert!(eg.spec.applied_to.is_some_and(|a| a.pod_selector.is_some()));
        }
        let err = load_str(
            "inv.yaml",
            "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {name: eg}\nspec: {egressIp: 10.0.0.1}\n",
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("spec.egressIp"), "{err}");
    }

    #[test]
    fn loads_external_ip_pools_and_ip_pools_with_their_ranges() {
        let pool = one(
            "apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata: {name: pool}\nspec:\n  ipRanges: [{start: 10.10.0.1, end: 10.10.0.9}, {cidr: 10.11.0.0/24}]\n  subnetInfo: {gateway: 10.10.0.254, prefixLength: 24}\n  nodeSelector: {}\n",
        );
        assert_eq!(pool.kind(), Kind::ExternalIpPool);
        assert_eq!(pool.key().to_string(), "eip/pool");
        let Object::AntreaIpPool(_, pool) = pool else {
            panic!("not a pool");
        };
        assert_eq!(pool.spec.ip_ranges[0].end.as_deref(), Some("10.10.0.9"));
        assert_eq!(pool.spec.ip_ranges[1].cidr.as_deref(), Some("10.11.0.0/24"));
        let ippool = one(
            "apiVersion: crd.antrea.io/v1alpha2\nkind: IPPool\nmetadata: {name: pods}\nspec:\n  ipVersion: 4\n  ipRanges: [{cidr: 10.12.0.0/24, gateway: 10.12.0.1, prefixLength: 24, vlan: 7}]\nstatus: {ipAddresses: []}\n",
        );
        assert_eq!(ippool.kind(), Kind::IpPool);
        let v = serde_json::to_value(&ippool).unwrap_or_default();
        assert_eq!(v["spec"]["ipRanges"][0]["prefixLength"], 24, "{v}");
    }

    #[test]
    fn loads_ingress_with_load_balancer_ips() {
        let ing = one(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: shop}\nspec: {ingressClassName: nginx, rules: [{host: a.example}]}\nstatus:\n  loadBalancer:\n    ingress: [{ip: 192.0.2.10}, {hostname: lb.example}]\n",
        );
        assert_eq!(ing.key().to_string(), "ing/shop/web");
        let Object::Ingress(ing) = ing else {
            panic!("not an Ingress");
        };
        assert_eq!(ing.ips(), vec!["192.0.2.10"]);
    }

    #[test]
    fn loads_gateway_addresses_from_spec_and_status() {
        for api in [
            "gateway.networking.k8s.io/v1",
            "gateway.networking.k8s.io/v1beta1",
        ] {
            let text = format!(
                "apiVersion: {api}\nkind: Gateway\nmetadata: {{name: gw}}\nspec:\n  gatewayClassName: cls\n  listeners: [{{name: http, port: 80, protocol: HTTP, allowedRoutes: {{namespaces: {{from: Same}}}}}}]\n  addresses: [{{type: IPAddress, value: 192.0.2.20}}, {{type: Hostname, value: gw.example}}]\nstatus:\n  addresses: [{{value: 192.0.2.21}}, {{type: IPAddress, value: 192.0.2.20}}]\n  conditions: []\n"
            );
            let gw = one(&text);
            assert_eq!(gw.key().to_string(), "gtw/default/gw");
            let Object::Gateway(gw) = gw else {
                panic!("not a Gateway");
            };
            assert_eq!(gw.ips(), vec!["192.0.2.20", "192.0.2.21"]);
            assert_eq!(gw.spec.listeners[0].port, 80);
        }
        assert!(
            load_str(
                "inv.yaml",
                "apiVersion: gateway.networking.k8s.io/v1alpha9\nkind: Gateway\nmetadata: {name: gw}\n"
            )
            .is_err()
        );
    }

    #[test]
    fn inventory_kinds_apply_before_tiers_and_after_services() {
        for kind in [
            Kind::Egress,
            Kind::ExternalIpPool,
            Kind::IpPool,
            Kind::Ingress,
            Kind::Gateway,
        ] {
            assert!(kind.apply_rank() < Kind::Tier.apply_rank());
            assert!(kind.apply_rank() > Kind::Service.apply_rank());
            assert!(kind.is_inventory_only() && !kind.is_policy());
            assert_eq!(Kind::from_cli_name(kind.short_name()), Some(kind));
        }
    }
}

#[cfg(test)]
mod serialize_tests {
    use super::*;

    #[test]
    fn serializes_as_the_wrapped_object() {
        let text = "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: p}\nspec: {priority: 1, tier: application}\n";
        let o = load_str("p.yaml", text).unwrap().remove(0).object;
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["spec"]["tier"], "application");
        assert_eq!(v["kind"], "ClusterNetworkPolicy");
    }
}
