//! `tierwall nsx trace`: reads the groups, the policies (with rules and
//! container-cluster-spans), the services and the inventory every registered cluster reported,
//! as typed objects through the manager client, and explains how
//! [`tierwall_nsx::dfw_trace::trace_flow`] decides one flow.

use super::connection::{ManagerConnectionArgs, http_runtime};
use super::trace_text::trace_text;
use crate::output::{TraceFormat, to_json, to_yaml};
use anyhow::{Context, bail};
use std::io::Write;
use tierwall_manager_client::ManagerClient;
use tierwall_nsx::dfw_trace::{DfwObjects, TraceFlow, trace_flow};
use tierwall_nsx::model::{ClusterInventory, Group, L4Protocol, Service};
use tierwall_nsx::span::SpannedPolicy;

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

/// Runs `tierwall nsx trace`.
pub fn run(args: &NsxTraceArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let (destination_port, protocol) = parse_port(&args.port)?;
    let flow = TraceFlow {
        source: args.source,
        destination: args.destination,
        protocol,
        destination_port,
    };
    let client = args.connection.client()?;
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

async fn read_dfw(client: &ManagerClient) -> anyhow::Result<DfwState> {
    let groups = client.groups().await?;
    let services = client.services().await?;
    let mut policies = Vec::new();
    for summary in client.security_policies().await? {
        let id = summary.meta.id.clone();
        let policy = client.security_policy(&id).await?.unwrap_or(summary);
        let spans = client.container_cluster_spans(&id).await?;
        policies.push(SpannedPolicy::new(policy, spans));
    }
    let mut inventories = Vec::new();
    for id in client.cluster_ids().await? {
        if let Some(inventory) = client.cluster_inventory(&id).await? {
            inventories.push(inventory);
        }
    }
    Ok(DfwState {
        policies,
        groups,
        services,
        inventories,
    })
}
