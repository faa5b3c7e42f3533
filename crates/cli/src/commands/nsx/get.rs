//! `tierwall nsx get groups|policies|rules|stats|clusters`: reads what the manager holds (see
//! [`super::get_reads`]) and prints it as a kubectl table ([`super::get_tables`]) or as an NSX
//! list envelope of the API's objects (`-o json|yaml`).

use super::connection::{ManagerConnectionArgs, http_runtime};
use super::get_reads::{read_clusters, read_policies, read_statistics};
use super::get_tables::{clusters_table, groups_table, policies_table, rules_table, stats_table};
use super::json_cells::array;
use crate::output::{GetFormat, to_json, to_yaml};
use anyhow::bail;
use serde_json::{Value, json};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};
use tierwall_manager_client::api_paths;

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

/// Runs `tierwall nsx get`; `now` dates the clusters' LAST-SEEN.
pub fn run(
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
    let client = args.connection.client()?;
    let runtime = http_runtime()?;
    let wide = args.output == GetFormat::Wide;
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let (items, table) = runtime.block_on(async {
        Ok::<_, anyhow::Error>(match args.resource {
            NsxResource::Groups => {
                let groups = client.list_json(&api_paths::groups()).await?;
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

fn envelope(items: Vec<Value>) -> Value {
    json!({"result_count": items.len(), "results": items})
}
