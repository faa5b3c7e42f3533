//! `tierwall nsx get groups|policies|rules|stats|clusters`: what a manager holds, read over its
//! NSX Policy REST API and printed as kubectl tables (or the API's own JSON/YAML); and
//! `tierwall nsx trace`: how the manager's DFW rules decide one VM↔cluster flow.
//!
//! ```text
//!  tierwall nsx get groups   --manager URL [--user admin] [--password-env VAR]
//!                            [--insecure-http | --ca FILE] [-o table|wide|json|yaml]
//!  tierwall nsx get policies ...
//!  tierwall nsx get rules    [--policy P] ...
//!  tierwall nsx get stats    [--policy P] [--cluster C] ...
//!  tierwall nsx get clusters ...
//!  tierwall nsx trace --source IP --destination IP --port 80/TCP --manager URL ... [-o text|json|yaml]
//! ```
//!
//! `nsx trace` reads the groups, the policies (with rules and container-cluster-spans), the
//! services and the inventory every registered cluster reported, and evaluates them with
//! [`tierwall_nsx::dfw_trace::trace_flow`]: on the egress side at the source and the ingress side
//! at the destination, each with the rules whose Applied-To contains that end (category, policy
//! and rule order, first match, the default ALLOW; see that module for how direction, Applied-To
//! and ports are read). The text names, per side, the rules skipped because of Applied-To and the
//! category, policy, rule, Applied-To and group member each end matched through.
//!
//! Tables (ids are the last segment of a policy path; `Any` is an empty group list):
//!
//! ```text
//!  groups    ID DISPLAY-NAME TYPE CRITERIA                     (wide: + IP-ADDRESSES PATH REVISION)
//!  policies  ID DISPLAY-NAME CATEGORY SEQUENCE RULES APPLIED-TO REALIZATION
//!                                                  (wide: + STATEFUL LOCKED REVISION MODIFIED-BY)
//!  rules     POLICY ID DISPLAY-NAME SEQUENCE SOURCES DESTINATIONS SERVICES APPLIED-TO ACTION
//!            DIRECTION STATE                       (wide: + LOGGED RULE-ID REVISION)
//!  stats     POLICY RULE CLUSTER HITS PACKETS BYTES SESSIONS      (one row per rule per cluster)
//!  clusters  ID DISPLAY-NAME HEALTH CONTROLLER REALIZED ERRORS LAST-SEEN
//!                                               (wide: + ADAPTER REPORT-INTERVAL NODE-TYPE)
//! ```
//!
//! APPLIED-TO of a policy: the clusters of its container-cluster-span, then its `scope` (cluster
//! or group ids), `DFW` when neither. REALIZATION: the consolidated realized state of the policy
//! over the clusters it spans. REALIZED of a cluster: intents its adapter reported `REALIZED` /
//! all it reported; LAST-SEEN: the age of its last heartbeat (`<never>` without one). Statistics
//! are the cumulative counters each cluster's adapter reported, never summed across clusters.
//!
//! `-o json|yaml` prints an NSX list envelope `{"results": [...], "result_count": N}` of the
//! API's objects: groups and policies (with `rules`) as stored, rules with their policy path,
//! the `SecurityPolicyStatisticsForEnforcementPoint` entries of every policy, and each cluster
//! control plane with its last heartbeat (`status`) and realization report (`realization`).
//!
//! Every list is read page by page (`cursor`) until its end. The user's password comes from the
//! environment variable named by `--password-env` (default `TIERWALL_ADMIN_PASSWORD`).

use crate::output::{GetFormat, TraceFormat, human_duration, kubectl_table, to_json, to_yaml};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tierwall_adapter::encode_query_value;
use tierwall_nsx::dfw_trace::{
    DfwObjects, RuleMatch, Side, SideDecision, TraceDecision, TraceFlow, trace_flow,
};
use tierwall_nsx::model::{
    ClusterInventory, Direction, Group, L4Protocol, RuleAction, SecurityPolicy,
    SecurityPolicyContainerCluster, Service,
};
use tierwall_nsx::span::SpannedPolicy;

/// The environment variable holding the password by default.
pub const DEFAULT_PASSWORD_ENV: &str = "TIERWALL_ADMIN_PASSWORD";

const INFRA: &str = "/policy/api/v1/infra";
const DOMAIN: &str = "/policy/api/v1/infra/domains/default";
const CLUSTER_CONTROL_PLANES: &str =
    "/policy/api/v1/infra/sites/default/enforcement-points/default/cluster-control-planes";
/// The policy path of cluster-control-planes, as spans and statistics name them.
const CLUSTER_PATH_PREFIX: &str =
    "/infra/sites/default/enforcement-points/default/cluster-control-planes/";

/// `tierwall nsx ...`.
#[derive(Debug, clap::Args)]
pub struct NsxArgs {
    #[command(subcommand)]
    pub command: NsxCommand,
}

/// The subcommands of `tierwall nsx`.
#[derive(Debug, clap::Subcommand)]
pub enum NsxCommand {
    /// List groups, policies, rules, per-cluster rule statistics or clusters of a manager.
    ///
    /// Tables: groups (ID DISPLAY-NAME TYPE CRITERIA), policies (ID DISPLAY-NAME CATEGORY
    /// SEQUENCE RULES APPLIED-TO REALIZATION), rules (POLICY ID DISPLAY-NAME SEQUENCE SOURCES
    /// DESTINATIONS SERVICES APPLIED-TO ACTION DIRECTION STATE), stats (POLICY RULE CLUSTER HITS
    /// PACKETS BYTES SESSIONS, per rule per cluster), clusters (ID DISPLAY-NAME HEALTH CONTROLLER
    /// REALIZED ERRORS LAST-SEEN). `-o wide` adds columns; `-o json|yaml` prints the API objects.
    Get(NsxGetArgs),
    /// Explain how the manager's DFW rules decide one flow (source IP → destination IP, port),
    /// leaving the source (egress) and entering the destination (ingress), each with the rules
    /// whose Applied-To holds that end: the category, policy and rule that match first, the
    /// group member each end matched (an IP, a node IP + nodePort, ...), or the default rule
    /// (ALLOW), and the rules skipped because of their Applied-To.
    Trace(NsxTraceArgs),
}

/// Options of `tierwall nsx trace`.
#[derive(Debug, Clone, clap::Args)]
pub struct NsxTraceArgs {
    /// The source IP address of the flow.
    #[arg(long, value_name = "IP")]
    pub source: std::net::IpAddr,
    /// The destination IP address of the flow.
    #[arg(long, value_name = "IP")]
    pub destination: std::net::IpAddr,
    /// The destination port and protocol: `80/TCP`, `53/UDP` (`80` alone is TCP).
    #[arg(long, value_name = "PORT[/PROTO]")]
    pub port: String,
    #[command(flatten)]
    pub connection: ManagerConnectionArgs,
    /// Output format: text (a traceflow-style explanation), json or yaml (the decision).
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: TraceFormat,
}

/// What `tierwall nsx get` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NsxResource {
    /// Groups of the default domain.
    #[value(alias = "group", alias = "grp")]
    Groups,
    /// Security policies of the default domain.
    #[value(alias = "policy", alias = "sp", alias = "security-policies")]
    Policies,
    /// Rules of one policy (--policy) or of all.
    #[value(alias = "rule")]
    Rules,
    /// Rule statistics per cluster, of one policy (--policy) or of all.
    #[value(alias = "statistics")]
    Stats,
    /// Registered cluster control planes with their health and realization.
    #[value(alias = "cluster", alias = "ccp", alias = "cluster-control-planes")]
    Clusters,
}

/// Where and as whom to reach the manager (the options `nsx get` and `nsx trace` share).
#[derive(Debug, Clone, clap::Args)]
pub struct ManagerConnectionArgs {
    /// Base URL of the manager (`https://HOST:PORT`, or `http://` with --insecure-http).
    #[arg(long, value_name = "URL", env = "TIERWALL_MANAGER")]
    pub manager: String,
    /// The user (Basic authentication).
    #[arg(long, value_name = "NAME", default_value = "admin")]
    pub user: String,
    /// The environment variable that holds the user's password.
    #[arg(long, value_name = "VAR", default_value = DEFAULT_PASSWORD_ENV)]
    pub password_env: String,
    /// Talk plain HTTP (the manager runs with --insecure-http).
    #[arg(long, conflicts_with = "ca")]
    pub insecure_http: bool,
    /// PEM CA certificate that signs the manager's server certificate (default: the system's).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// Options of `tierwall nsx get`.
#[derive(Debug, Clone, clap::Args)]
pub struct NsxGetArgs {
    /// groups, policies, rules, stats or clusters.
    #[arg(value_enum, value_name = "RESOURCE")]
    pub resource: NsxResource,
    #[command(flatten)]
    pub connection: ManagerConnectionArgs,
    /// Output format: table, wide (more columns), json or yaml (the API's objects).
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: GetFormat,
    /// rules, stats: only this policy (its id).
    #[arg(long, value_name = "ID")]
    pub policy: Option<String>,
    /// stats: only this cluster (its id).
    #[arg(long, value_name = "ID")]
    pub cluster: Option<String>,
}

/// Runs `tierwall nsx ...`; `now` dates the clusters' LAST-SEEN.
pub fn run(
    args: &NsxArgs,
    now: SystemTime,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    match &args.command {
        NsxCommand::Get(get) => run_get(get, now, out, err),
        NsxCommand::Trace(trace) => run_trace(trace, out),
    }
}

fn run_get(
    args: &NsxGetArgs,
    now: SystemTime,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    if args.cluster.is_some() && args.resource != NsxResource::Stats {
        bail!("--cluster applies to `nsx get stats` only");
    }
    if args.policy.is_some() && !matches!(args.resource, NsxResource::Rules | NsxResource::Stats) {
        bail!("--policy applies to `nsx get rules` and `nsx get stats` only");
    }
    let client = ManagerApi::new(&args.connection)?;
    let runtime = http_runtime()?;
    let wide = args.output == GetFormat::Wide;
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let (items, table) = runtime.block_on(async {
        Ok::<_, anyhow::Error>(match args.resource {
            NsxResource::Groups => {
                let groups = client.list(&format!("{DOMAIN}/groups")).await?;
                let table = groups_table(&groups, wide);
                (groups, table)
            }
            NsxResource::Policies => {
                let policies = read_policies(&client, None).await?;
                let table = policies_table(&policies, wide);
                (policies.into_iter().map(|p| p.policy).collect(), table)
            }
            NsxResource::Rules => {
                let policies = read_policies(&client, args.policy.as_deref()).await?;
                let rules: Vec<Value> = policies
                    .iter()
                    .flat_map(|p| array(&p.policy, "rules").iter().cloned())
                    .collect();
                (rules, rules_table(&policies, wide))
            }
            NsxResource::Stats => {
                let stats =
                    read_statistics(&client, args.policy.as_deref(), args.cluster.as_deref())
                        .await?;
                let table = stats_table(&stats);
                (stats, table)
            }
            NsxResource::Clusters => {
                let clusters = read_clusters(&client).await?;
                let table = clusters_table(&clusters, now_ms, wide);
                (clusters, table)
            }
        })
    })?;
    match args.output {
        GetFormat::Table | GetFormat::Wide => {
            if items.is_empty() && table.lines().count() <= 1 {
                writeln!(err, "No resources found")?;
            } else {
                out.write_all(table.as_bytes())?;
            }
        }
        GetFormat::Json => out.write_all(to_json(&envelope(items))?.as_bytes())?,
        GetFormat::Yaml => out.write_all(to_yaml(&envelope(items))?.as_bytes())?,
    }
    Ok(0)
}

/// The single-threaded runtime the manager requests of one command run on.
fn http_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")
}

fn envelope(items: Vec<Value>) -> Value {
    json!({"result_count": items.len(), "results": items})
}

/// A client of one manager as one user.
struct ManagerApi {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl ManagerApi {
    fn new(args: &ManagerConnectionArgs) -> anyhow::Result<ManagerApi> {
        let base = args.manager.trim_end_matches('/').to_string();
        if base.starts_with("http://") && !args.insecure_http {
            bail!("{base} is plain HTTP: add --insecure-http (or use https:// with --ca FILE)");
        }
        if base.starts_with("https://") && args.insecure_http {
            bail!("--insecure-http needs an http:// manager URL, not {base}");
        }
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("the manager URL must start with https:// (or http:// with --insecure-http)");
        }
        let password = std::env::var(&args.password_env).with_context(|| {
            format!(
                "the password of {} must be in the environment variable {}",
                args.user, args.password_env
            )
        })?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(ca) = &args.ca {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{}: not a PEM certificate", ca.display()))?;
            builder = builder.tls_certs_only([cert]);
        }
        Ok(ManagerApi {
            http: builder.build().context("cannot build the HTTP client")?,
            base,
            user: args.user.to_string(),
            password,
        })
    }

    /// GET `path` (with its query); the JSON answer, `Ok(None)` on 404.
    async fn get_optional(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .with_context(|| format!("GET {url}"))?;
        if status == 404 {
            return Ok(None);
        }
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(_) if !(200..300).contains(&status) => Value::String(text),
                Err(e) => bail!("GET {url}: the answer is not JSON ({e})"),
            }
        };
        if (200..300).contains(&status) {
            return Ok(Some(body));
        }
        let message = body
            .get("error_message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| match &body {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        bail!("GET {url}: {status}: {message}")
    }

    /// GET `path`; a 404 is an error naming what is missing.
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.get_optional(path)
            .await?
            .with_context(|| format!("not found: {path}"))
    }

    /// Every item of the list at `path`, following `cursor` to the last page.
    async fn list(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let separator = if path.contains('?') { '&' } else { '?' };
        loop {
            let page_path = match &cursor {
                Some(c) => format!("{path}{separator}cursor={}", encode_query_value(c)),
                None => path.to_string(),
            };
            let page = self.get(&page_path).await?;
            items.extend(array(&page, "results").iter().cloned());
            match page.get("cursor").and_then(Value::as_str) {
                Some(c) if !c.is_empty() && cursor.as_deref() != Some(c) => {
                    cursor = Some(c.to_string());
                }
                _ => return Ok(items),
            }
        }
    }
}

/// A policy (with its rules) and what the tables show beside it.
struct PolicyView {
    policy: Value,
    span_clusters: Vec<String>,
    realization: String,
}

async fn read_policies(client: &ManagerApi, only: Option<&str>) -> anyhow::Result<Vec<PolicyView>> {
    let ids: Vec<String> = match only {
        Some(id) => vec![id.to_string()],
        None => client
            .list(&format!("{DOMAIN}/security-policies"))
            .await?
            .iter()
            .map(|p| text(p, "id").to_string())
            .collect(),
    };
    let mut out = Vec::new();
    for id in ids {
        let path = format!("{DOMAIN}/security-policies/{id}");
        let policy = client
            .get_optional(&path)
            .await?
            .with_context(|| format!("no security policy {id}"))?;
        let spans = client
            .list(&format!("{path}/container-cluster-span"))
            .await?;
        let span_clusters = spans
            .iter()
            .map(|s| last_segment(text(s, "container_cluster_path")).to_string())
            .collect();
        let intent = text(&policy, "path").to_string();
        let realization = match client
            .get_optional(&format!(
                "{INFRA}/realized-state/status?intent_path={}",
                encode_query_value(&intent)
            ))
            .await?
        {
            Some(status) => status["consolidated_status"]["consolidated_status"]
                .as_str()
                .unwrap_or("UNKNOWN")
                .to_string(),
            None => "UNKNOWN".to_string(),
        };
        out.push(PolicyView {
            policy,
            span_clusters,
            realization,
        });
    }
    Ok(out)
}

async fn read_statistics(
    client: &ManagerApi,
    only_policy: Option<&str>,
    only_cluster: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let ids: Vec<String> = match only_policy {
        Some(id) => vec![id.to_string()],
        None => client
            .list(&format!("{DOMAIN}/security-policies"))
            .await?
            .iter()
            .map(|p| text(p, "id").to_string())
            .collect(),
    };
    if let Some(c) = only_cluster
        && client
            .get_optional(&format!("{CLUSTER_CONTROL_PLANES}/{c}"))
            .await?
            .is_none()
    {
        bail!("no cluster control plane {c}");
    }
    let mut out = Vec::new();
    for id in ids {
        let mut path = format!("{DOMAIN}/security-policies/{id}/statistics");
        if let Some(c) = only_cluster {
            path.push_str("?container_cluster_path=");
            path.push_str(&encode_query_value(&format!("{CLUSTER_PATH_PREFIX}{c}")));
        }
        let entries = match client.get_optional(&path).await? {
            Some(page) => array(&page, "results").to_vec(),
            None if only_policy.is_some() => bail!("no security policy {id}"),
            None => Vec::new(),
        };
        out.extend(entries);
    }
    Ok(out)
}

async fn read_clusters(client: &ManagerApi) -> anyhow::Result<Vec<Value>> {
    let clusters = client.list(CLUSTER_CONTROL_PLANES).await?;
    let statuses = client
        .list(&format!("{CLUSTER_CONTROL_PLANES}/status"))
        .await?;
    let mut out = Vec::new();
    for mut cluster in clusters {
        let id = text(&cluster, "id").to_string();
        let status = statuses
            .iter()
            .find(|s| text(s, "cluster_control_plane_id") == id)
            .cloned()
            .unwrap_or(Value::Null);
        let realization = client
            .get_optional(&format!("{CLUSTER_CONTROL_PLANES}/{id}/realization"))
            .await?
            .unwrap_or(Value::Null);
        if let Value::Object(m) = &mut cluster {
            m.insert("status".into(), status);
            m.insert("realization".into(), realization);
        }
        out.push(cluster);
    }
    Ok(out)
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A number cell (`-` when absent).
fn number(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "-".to_string(),
    }
}

fn display_name(v: &Value) -> String {
    match v.get("display_name").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => d.to_string(),
        _ => text(v, "id").to_string(),
    }
}

fn yes_no(v: &Value, key: &str, default: bool) -> &'static str {
    if v.get(key).and_then(Value::as_bool).unwrap_or(default) {
        "true"
    } else {
        "false"
    }
}

// ---- groups ----

fn groups_table(groups: &[Value], wide: bool) -> String {
    let mut header = vec!["ID", "DISPLAY-NAME", "TYPE", "CRITERIA"];
    if wide {
        header.extend(["IP-ADDRESSES", "PATH", "REVISION"]);
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let types: Vec<&str> = array(g, "group_type")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let mut row = vec![
                text(g, "id").to_string(),
                display_name(g),
                if types.is_empty() {
                    "Generic".to_string()
                } else {
                    types.join(",")
                },
                criteria(array(g, "expression")),
            ];
            if wide {
                row.push(ip_addresses(array(g, "expression")));
                row.push(text(g, "path").to_string());
                row.push(number(g, "_revision"));
            }
            row
        })
        .collect();
    kubectl_table(&header, &rows)
}

/// A group's membership criteria in one line: conditions as `Pod Tag EQUALS app|web`, joined by
/// their conjunctions; IP address and path expressions counted.
fn criteria(expressions: &[Value]) -> String {
    let parts: Vec<String> = expressions.iter().map(expression_text).collect();
    if parts.is_empty() {
        "<none>".to_string()
    } else {
        parts.join(" ")
    }
}

fn expression_text(e: &Value) -> String {
    match text(e, "resource_type") {
        "Condition" => {
            let mut s = format!(
                "{} {} {} {}",
                text(e, "member_type"),
                text(e, "key"),
                e.get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or("EQUALS"),
                text(e, "value")
            );
            if let Some(op) = e.get("scope_operator").and_then(Value::as_str) {
                s.push_str(&format!(" (scope {op})"));
            }
            s
        }
        "ConjunctionOperator" => text(e, "conjunction_operator").to_string(),
        "NestedExpression" => format!("({})", criteria(array(e, "expressions"))),
        "IPAddressExpression" => format!("IPs[{}]", array(e, "ip_addresses").len()),
        "MACAddressExpression" => format!("MACs[{}]", array(e, "mac_addresses").len()),
        "PathExpression" => {
            let ids: Vec<&str> = array(e, "paths")
                .iter()
                .filter_map(Value::as_str)
                .map(last_segment)
                .collect();
            format!("Groups[{}]", ids.join(","))
        }
        "ExternalIDExpression" => format!("ExternalIDs[{}]", array(e, "external_ids").len()),
        other => other.to_string(),
    }
}

fn ip_addresses(expressions: &[Value]) -> String {
    let mut ips = Vec::new();
    collect_ip_addresses(expressions, &mut ips);
    if ips.is_empty() {
        "<none>".to_string()
    } else {
        ips.join(",")
    }
}

fn collect_ip_addresses<'a>(expressions: &'a [Value], ips: &mut Vec<&'a str>) {
    for e in expressions {
        match text(e, "resource_type") {
            "IPAddressExpression" => {
                ips.extend(array(e, "ip_addresses").iter().filter_map(Value::as_str));
            }
            "NestedExpression" => collect_ip_addresses(array(e, "expressions"), ips),
            _ => {}
        }
    }
}

// ---- policies ----

fn applied_to(policy: &PolicyView) -> String {
    let mut targets: Vec<String> = policy.span_clusters.clone();
    for s in array(&policy.policy, "scope")
        .iter()
        .filter_map(Value::as_str)
    {
        let id = last_segment(s).to_string();
        if s != "ANY" && !targets.contains(&id) {
            targets.push(id);
        }
    }
    if targets.is_empty() {
        "DFW".to_string()
    } else {
        targets.join(",")
    }
}

fn policies_table(policies: &[PolicyView], wide: bool) -> String {
    let mut header = vec![
        "ID",
        "DISPLAY-NAME",
        "CATEGORY",
        "SEQUENCE",
        "RULES",
        "APPLIED-TO",
        "REALIZATION",
    ];
    if wide {
        header.extend(["STATEFUL", "LOCKED", "REVISION", "MODIFIED-BY"]);
    }
    let rows: Vec<Vec<String>> = policies
        .iter()
        .map(|p| {
            let v = &p.policy;
            let mut row = vec![
                text(v, "id").to_string(),
                display_name(v),
                v.get("category")
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_string(),
                number(v, "sequence_number"),
                array(v, "rules").len().to_string(),
                applied_to(p),
                p.realization.clone(),
            ];
            if wide {
                row.push(yes_no(v, "stateful", true).to_string());
                row.push(yes_no(v, "locked", false).to_string());
                row.push(number(v, "_revision"));
                row.push(
                    v.get("_last_modified_user")
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                        .to_string(),
                );
            }
            row
        })
        .collect();
    kubectl_table(&header, &rows)
}

// ---- rules ----

/// Group paths as ids, `Any` when empty, `NOT (...)` when negated.
fn groups_cell(rule: &Value, key: &str, excluded_key: &str) -> String {
    let ids: Vec<&str> = array(rule, key)
        .iter()
        .filter_map(Value::as_str)
        .filter(|p| !p.eq_ignore_ascii_case("ANY"))
        .map(last_segment)
        .collect();
    if ids.is_empty() {
        return "Any".to_string();
    }
    let list = ids.join(",");
    if rule
        .get(excluded_key)
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        format!("NOT({list})")
    } else {
        list
    }
}

fn services_cell(rule: &Value) -> String {
    let mut parts: Vec<String> = array(rule, "services")
        .iter()
        .filter_map(Value::as_str)
        .filter(|p| !p.eq_ignore_ascii_case("ANY"))
        .map(|p| last_segment(p).to_string())
        .collect();
    parts.extend(
        array(rule, "service_entries")
            .iter()
            .map(service_entry_text),
    );
    if parts.is_empty() {
        "Any".to_string()
    } else {
        parts.join(",")
    }
}

fn service_entry_text(e: &Value) -> String {
    match text(e, "resource_type") {
        "L4PortSetServiceEntry" => {
            let ports: Vec<&str> = array(e, "destination_ports")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let proto = text(e, "l4_protocol");
            if ports.is_empty() {
                proto.to_string()
            } else {
                format!("{proto}/{}", ports.join("+"))
            }
        }
        "ICMPTypeServiceEntry" => {
            let proto = e
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("ICMPv4");
            match e.get("icmp_type") {
                Some(t) if !t.is_null() => format!("{proto}/type-{t}"),
                _ => proto.to_string(),
            }
        }
        "IPProtocolServiceEntry" => format!("IP/{}", number(e, "protocol_number")),
        "IGMPTypeServiceEntry" => "IGMP".to_string(),
        "ALGTypeServiceEntry" => format!("ALG/{}", text(e, "alg")),
        other => other.to_string(),
    }
}

fn rule_applied_to(rule: &Value) -> String {
    let ids: Vec<&str> = array(rule, "scope")
        .iter()
        .filter_map(Value::as_str)
        .filter(|p| !p.eq_ignore_ascii_case("ANY"))
        .map(last_segment)
        .collect();
    if ids.is_empty() {
        "Policy".to_string()
    } else {
        ids.join(",")
    }
}

fn rules_table(policies: &[PolicyView], wide: bool) -> String {
    let mut header = vec![
        "POLICY",
        "ID",
        "DISPLAY-NAME",
        "SEQUENCE",
        "SOURCES",
        "DESTINATIONS",
        "SERVICES",
        "APPLIED-TO",
        "ACTION",
        "DIRECTION",
        "STATE",
    ];
    if wide {
        header.extend(["LOGGED", "RULE-ID", "REVISION"]);
    }
    let mut rows = Vec::new();
    for p in policies {
        for r in array(&p.policy, "rules") {
            let disabled = r.get("disabled").and_then(Value::as_bool).unwrap_or(false);
            let mut row = vec![
                text(&p.policy, "id").to_string(),
                text(r, "id").to_string(),
                display_name(r),
                number(r, "sequence_number"),
                groups_cell(r, "source_groups", "sources_excluded"),
                groups_cell(r, "destination_groups", "destinations_excluded"),
                services_cell(r),
                rule_applied_to(r),
                r.get("action")
                    .and_then(Value::as_str)
                    .unwrap_or("ALLOW")
                    .to_string(),
                r.get("direction")
                    .and_then(Value::as_str)
                    .unwrap_or("IN_OUT")
                    .to_string(),
                if disabled { "Disabled" } else { "Enabled" }.to_string(),
            ];
            if wide {
                row.push(yes_no(r, "logged", false).to_string());
                row.push(number(r, "rule_id"));
                row.push(number(r, "_revision"));
            }
            rows.push(row);
        }
    }
    kubectl_table(&header, &rows)
}

// ---- statistics ----

/// The policy id of a rule path (`/infra/domains/default/security-policies/P/rules/R`).
fn policy_of_rule(rule_path: &str) -> &str {
    rule_path
        .rsplitn(3, '/')
        .nth(2)
        .map_or("", |policy| last_segment(policy))
}

fn stats_table(entries: &[Value]) -> String {
    let mut rows = Vec::new();
    for entry in entries {
        let cluster = last_segment(text(entry, "container_cluster_path")).to_string();
        for r in array(&entry["statistics"], "results") {
            let rule = text(r, "rule");
            rows.push(vec![
                policy_of_rule(rule).to_string(),
                last_segment(rule).to_string(),
                cluster.clone(),
                number(r, "hit_count"),
                number(r, "packet_count"),
                number(r, "byte_count"),
                number(r, "session_count"),
            ]);
        }
    }
    kubectl_table(
        &[
            "POLICY", "RULE", "CLUSTER", "HITS", "PACKETS", "BYTES", "SESSIONS",
        ],
        &rows,
    )
}

// ---- clusters ----

fn clusters_table(clusters: &[Value], now_ms: i64, wide: bool) -> String {
    let mut header = vec![
        "ID",
        "DISPLAY-NAME",
        "HEALTH",
        "CONTROLLER",
        "REALIZED",
        "ERRORS",
        "LAST-SEEN",
    ];
    if wide {
        header.extend(["ADAPTER", "REPORT-INTERVAL", "NODE-TYPE"]);
    }
    let rows: Vec<Vec<String>> = clusters
        .iter()
        .map(|c| {
            let status = &c["status"];
            let reported = array(&c["realization"], "results");
            let realized = reported
                .iter()
                .filter(|r| text(r, "state") == "REALIZED")
                .count();
            let errors = reported
                .iter()
                .filter(|r| text(r, "state") == "ERROR")
                .count();
            let last_seen = match status.get("_last_modified_time").and_then(Value::as_i64) {
                Some(t) => human_duration(now_ms.saturating_sub(t) / 1000),
                None => "<never>".to_string(),
            };
            let mut row = vec![
                text(c, "id").to_string(),
                display_name(c),
                status
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("UNKNOWN")
                    .to_string(),
                status["controller_status"]["status"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
                format!("{realized}/{}", reported.len()),
                errors.to_string(),
                last_seen,
            ];
            if wide {
                row.push(
                    status["ccp_adapter_status"]["status"]
                        .as_str()
                        .unwrap_or("-")
                        .to_string(),
                );
                row.push(match status.get("report_interval") {
                    Some(Value::Number(n)) => format!("{n}s"),
                    _ => "-".to_string(),
                });
                row.push(
                    c.get("node_type")
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                        .to_string(),
                );
            }
            row
        })
        .collect();
    kubectl_table(&header, &rows)
}

// ---- trace ----

fn run_trace(args: &NsxTraceArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let (destination_port, protocol) = parse_port(&args.port)?;
    let flow = TraceFlow {
        source: args.source,
        destination: args.destination,
        protocol,
        destination_port,
    };
    let client = ManagerApi::new(&args.connection)?;
    let objects = http_runtime()?.block_on(read_dfw(&client))?;
    let decision = trace_flow(
        &DfwObjects {
            policies: &objects.policies,
            groups: &objects.groups,
            services: &objects.services,
            inventories: &objects.inventories,
        },
        &flow,
    );
    match args.output {
        TraceFormat::Text => out.write_all(trace_text(&decision).as_bytes())?,
        TraceFormat::Json => out.write_all(to_json(&decision)?.as_bytes())?,
        TraceFormat::Yaml => out.write_all(to_yaml(&decision)?.as_bytes())?,
    }
    Ok(0)
}

/// `80/TCP`, `53/udp`, `8080` (TCP), `TCP/80`: the CLI's one port syntax, TCP or UDP only.
fn parse_port(text: &str) -> anyhow::Result<(u16, L4Protocol)> {
    let (port, protocol) =
        crate::input::parse_port(text).with_context(|| format!("--port {text:?}"))?;
    let protocol = match protocol.as_deref().unwrap_or("TCP") {
        "TCP" => L4Protocol::Tcp,
        "UDP" => L4Protocol::Udp,
        other => bail!("--port {text:?}: protocol {other} is not TCP or UDP"),
    };
    Ok((port, protocol))
}

/// What the trace evaluates, read from the manager.
struct DfwState {
    policies: Vec<SpannedPolicy>,
    groups: Vec<Group>,
    services: Vec<Service>,
    inventories: Vec<ClusterInventory>,
}

fn parse_object<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> anyhow::Result<T> {
    let id = text(&value, "id").to_string();
    serde_json::from_value(value).with_context(|| format!("{what} {id}: not a valid object"))
}

async fn read_dfw(client: &ManagerApi) -> anyhow::Result<DfwState> {
    let groups = client
        .list(&format!("{DOMAIN}/groups"))
        .await?
        .into_iter()
        .map(|g| parse_object(g, "group"))
        .collect::<anyhow::Result<Vec<Group>>>()?;
    let services = client
        .list(&format!("{INFRA}/services"))
        .await?
        .into_iter()
        .map(|s| parse_object(s, "service"))
        .collect::<anyhow::Result<Vec<Service>>>()?;
    let mut policies = Vec::new();
    for summary in client.list(&format!("{DOMAIN}/security-policies")).await? {
        let id = text(&summary, "id").to_string();
        let path = format!("{DOMAIN}/security-policies/{id}");
        let policy = client.get_optional(&path).await?.unwrap_or(summary);
        let policy = parse_object::<SecurityPolicy>(policy, "security policy")?;
        let spans = client
            .list(&format!("{path}/container-cluster-span"))
            .await?
            .into_iter()
            .map(|span| parse_object(span, "container-cluster-span"))
            .collect::<anyhow::Result<Vec<SecurityPolicyContainerCluster>>>()?;
        policies.push(SpannedPolicy::new(policy, spans));
    }
    let mut inventories = Vec::new();
    for cluster in client.list(CLUSTER_CONTROL_PLANES).await? {
        let id = text(&cluster, "id").to_string();
        let Some(report) = client
            .get_optional(&format!("{CLUSTER_CONTROL_PLANES}/{id}/inventory"))
            .await?
        else {
            continue;
        };
        let mut inventory: ClusterInventory = serde_json::from_value(report)
            .with_context(|| format!("the inventory of cluster {id} is not valid"))?;
        if inventory.cluster_id.is_empty() {
            inventory.cluster_id = id;
        }
        inventories.push(inventory);
    }
    Ok(DfwState {
        policies,
        groups,
        services,
        inventories,
    })
}

fn action_name(action: RuleAction) -> &'static str {
    match action {
        RuleAction::Allow => "ALLOW",
        RuleAction::Drop => "DROP",
        RuleAction::Reject => "REJECT",
        RuleAction::JumpToApplication => "JUMP_TO_APPLICATION",
    }
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::In => "IN",
        Direction::Out => "OUT",
        Direction::InOut => "IN_OUT",
    }
}

/// `policy vm-to-k8s "VM to cluster" (sequence 10)`-style lines of one matched rule, each
/// starting with `indent`.
fn rule_lines(m: &RuleMatch, indent: &str, text: &mut String) {
    let quoted = |id: &str, name: &str| {
        if id == name {
            id.to_string()
        } else {
            format!("{id} \"{name}\"")
        }
    };
    text.push_str(&format!("{indent}category:    {}\n", m.category.as_str()));
    text.push_str(&format!(
        "{indent}policy:      {} (sequence {})\n",
        quoted(&m.policy_id, &m.policy_display_name),
        m.policy_sequence_number
    ));
    let number = m
        .rule_number
        .map_or(String::new(), |n| format!("rule_id {n}, "));
    text.push_str(&format!(
        "{indent}rule:        {} ({number}sequence {}, direction {})\n",
        quoted(&m.rule_id, &m.rule_display_name),
        m.rule_sequence_number,
        direction_name(m.direction)
    ));
    text.push_str(&format!("{indent}applied to:  {}\n", m.applied_to));
    text.push_str(&format!("{indent}source:      {}\n", m.source.describe()));
    text.push_str(&format!(
        "{indent}destination: {}\n",
        m.destination.describe()
    ));
    text.push_str(&format!("{indent}service:     {}\n", m.service));
}

/// `policy p rule r (rule_id 1010)`.
fn rule_name(m: &RuleMatch) -> String {
    let number = m
        .rule_number
        .map_or(String::new(), |n| format!(" (rule_id {n})"));
    format!("policy {} rule {}{number}", m.policy_id, m.rule_id)
}

/// The block of one side: where it is evaluated, the rules skipped because of Applied-To, the
/// jumps, and its decision.
fn side_block(d: &SideDecision, note: Option<&str>, text: &mut String) {
    let end = match d.side {
        Side::Egress => "source",
        Side::Ingress => "destination",
    };
    let owner = d.owner.as_ref().map_or(String::new(), |o| format!(", {o}"));
    let note = note.map_or(String::new(), |n| format!(" ({n})"));
    text.push_str(&format!(
        "\n{} at the {end} {}{owner}{note}\n",
        d.side.as_str(),
        d.at
    ));
    text.push_str(&format!(
        "  evaluated:   {} enabled rule(s) applied to {}\n",
        d.rules_evaluated, d.at
    ));
    for skip in &d.skipped {
        text.push_str(&format!(
            "  skipped:     {} (Applied-To {}: {})\n",
            rule_name(&skip.rule),
            skip.rule.applied_to,
            skip.reason
        ));
    }
    for jump in &d.jumped {
        text.push_str(&format!(
            "  jumped:      {} (JUMP_TO_APPLICATION)\n",
            rule_name(jump)
        ));
    }
    match &d.matched {
        Some(m) => {
            text.push_str(&format!("  decision:    {}\n", action_name(d.action)));
            rule_lines(m, "    ", text);
        }
        None => text.push_str(&format!(
            "  decision:    {} (default rule: no rule matched)\n",
            action_name(d.action)
        )),
    }
}

/// The traceflow-style explanation: the flow, the egress side at the source, the ingress side
/// at the destination (not reached after an egress DROP/REJECT), and the result.
fn trace_text(decision: &TraceDecision) -> String {
    let flow = &decision.flow;
    let mut text = format!(
        "Flow {} -> {} {}/{}\n",
        flow.source,
        flow.destination,
        flow.destination_port,
        flow.protocol.as_str()
    );
    text.push_str(
        "Rules in category order Ethernet, Emergency, Infrastructure, Environment, Application, \
         each on the ends in its Applied-To; first match wins on each side\n",
    );
    side_block(&decision.egress, None, &mut text);
    let not_reached = (decision.decided_by == Some(Side::Egress)
        && decision.action != RuleAction::Allow)
        .then(|| {
            let done = match decision.action {
                RuleAction::Reject => "rejected",
                _ => "dropped",
            };
            format!("not reached: the flow is {done} at egress")
        });
    side_block(&decision.ingress, not_reached.as_deref(), &mut text);
    let result = match (&decision.matched, decision.decided_by) {
        (Some(m), Some(side)) => format!(
            "Result: {} (decided by {}: {})\n",
            action_name(decision.action),
            side.as_str(),
            rule_name(m)
        ),
        _ => format!(
            "Result: {} (default rule on both sides)\n",
            action_name(decision.action)
        ),
    };
    text.push('\n');
    text.push_str(&result);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_read_as_an_admin_writes_them() {
        let expr = json!([
            {"resource_type": "Condition", "member_type": "Namespace", "key": "Tag",
             "operator": "EQUALS", "value": "SomeK8sLabel|SomeK8sLabelValue",
             "scope_operator": "EQUALS"},
            {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"},
            {"resource_type": "IPAddressExpression", "ip_addresses": ["192.168.100.0/24", "192.168.200.0/24"]}
        ]);
        let list = expr.as_array().cloned().unwrap_or_default();
        assert_eq!(
            criteria(&list),
            "Namespace Tag EQUALS SomeK8sLabel|SomeK8sLabelValue (scope EQUALS) OR IPs[2]"
        );
        assert_eq!(ip_addresses(&list), "192.168.100.0/24,192.168.200.0/24");
        assert_eq!(criteria(&[]), "<none>");
    }

    #[test]
    fn rule_cells_name_groups_services_and_negation() {
        let rule = json!({
            "source_groups": ["/infra/domains/default/groups/clients"], "sources_excluded": true,
            "destination_groups": ["ANY"], "services": ["/infra/services/HTTP"],
            "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                                 "destination_ports": ["81", "90-91"]}],
        });
        assert_eq!(
            groups_cell(&rule, "source_groups", "sources_excluded"),
            "NOT(clients)"
        );
        assert_eq!(
            groups_cell(&rule, "destination_groups", "destinations_excluded"),
            "Any"
        );
        assert_eq!(services_cell(&rule), "HTTP,TCP/81+90-91");
        assert_eq!(rule_applied_to(&rule), "Policy");
        assert_eq!(
            policy_of_rule("/infra/domains/default/security-policies/shop/rules/allow-80"),
            "shop"
        );
    }

    #[test]
    fn a_cluster_without_a_heartbeat_was_never_seen() {
        let clusters = [json!({"id": "c1", "display_name": "c1", "status": null,
                               "realization": null})];
        assert_eq!(
            clusters_table(&clusters, 0, false),
            "ID    DISPLAY-NAME   HEALTH    CONTROLLER   REALIZED   ERRORS   LAST-SEEN\n\
             c1    c1             UNKNOWN   -            0/0        0        <never>\n"
        );
    }
}
