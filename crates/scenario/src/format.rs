//! The scenario file format (v1, described in `docs/scenarios.md`) as serde types. Unknown keys
//! are errors, so a typo in a scenario is reported instead of silently passing.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// `kind: validation` files carry `validate` instead of `steps`.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub cluster: Option<ClusterOverrides>,
    #[serde(default)]
    pub manifests: Option<String>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub validate: Vec<ValidateItem>,
    #[serde(default)]
    pub notes: Option<serde_json::Value>,
}

/// An item of a `kind: validation` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateItem {
    #[serde(default)]
    pub note: Option<String>,
    pub manifest: String,
    pub expect: String,
    #[serde(default)]
    pub message_contains: Option<String>,
}

/// `cluster:` overrides of the standard cluster.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterOverrides {
    #[serde(default = "default_true")]
    pub standard: bool,
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    #[serde(default)]
    pub namespaces: Vec<NamespaceSpec>,
    #[serde(default)]
    pub pods: Vec<PodSpec>,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountSpec>,
    #[serde(default)]
    pub externals: Vec<ExternalSpec>,
}

fn default_true() -> bool {
    true
}

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub labels: Option<Labels>,
    #[serde(default, rename = "podCIDR")]
    pub pod_cidr: Option<String>,
    #[serde(default, rename = "gatewayIP")]
    pub gateway_ip: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSpec {
    pub name: String,
    #[serde(default)]
    pub labels: Option<Labels>,
    #[serde(default)]
    pub annotations: Option<Labels>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub labels: Option<Labels>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub service_account: Option<String>,
    #[serde(default)]
    pub host_network: Option<bool>,
    #[serde(default)]
    pub ports: Option<Vec<PortSpec>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub container_port: u16,
    #[serde(default)]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    pub namespace: String,
    pub name: String,
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    #[serde(default, rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    #[serde(default)]
    pub selector: Option<Labels>,
    #[serde(default)]
    pub ports: Vec<ServicePortSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePortSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub port: u16,
    #[serde(default)]
    pub target_port: Option<serde_json::Value>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub node_port: Option<u16>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountSpec {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalSpec {
    pub name: String,
    pub ip: String,
}

/// One step: actions, then expectations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub delete: Vec<String>,
    #[serde(default)]
    pub apply: Option<String>,
    #[serde(default)]
    pub label: Vec<LabelChange>,
    #[serde(default)]
    pub annotate: Vec<LabelChange>,
    #[serde(default)]
    pub expect_admission: Option<ExpectAdmission>,
    #[serde(default)]
    pub probe: Option<ProbeSpec>,
    #[serde(default)]
    pub pods: Option<Vec<String>>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub expect: Vec<String>,
    #[serde(default)]
    pub probes: Vec<String>,
    #[serde(default)]
    pub evaluation: Vec<String>,
    #[serde(default)]
    pub expect_object: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub expect_status: Vec<serde_json::Value>,
    #[serde(default)]
    pub expect_stats: Vec<serde_json::Value>,
    #[serde(default)]
    pub expect_logs: Option<serde_json::Value>,
    #[serde(default)]
    pub traffic: Vec<String>,
}

/// `label` / `annotate` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelChange {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub set: Option<Labels>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub replace: Option<Labels>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectAdmission {
    pub allowed: bool,
    #[serde(default)]
    pub message_contains: Option<String>,
}

/// The matrix probe of a step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProbeSpec {
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub ports: Vec<u16>,
}

/// Parses a scenario file's text; the error gives line and column.
pub fn parse(text: &str) -> Result<ScenarioFile, String> {
    serde_saphyr::from_str(text).map_err(|e| e.without_snippet().to_string())
}
