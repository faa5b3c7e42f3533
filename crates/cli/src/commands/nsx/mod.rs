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
//! Every request goes through `tierwall_manager_client::ManagerClient`; every list is read page
//! by page (`cursor`) until its end. The user's password comes from the
//! environment variable named by `--password-env` (default `TIERWALL_ADMIN_PASSWORD`).
//!
//! Files: [`connection`] (the shared options, the client), [`get`] with [`get_reads`] (what it
//! reads) and [`get_tables`] (what it prints), [`trace`] with [`trace_text`].

mod connection;
mod get;
mod get_reads;
mod get_tables;
mod json_cells;
mod trace;
mod trace_text;

pub use connection::{DEFAULT_PASSWORD_ENV, ManagerConnectionArgs};
pub use get::{NsxGetArgs, NsxResource};
pub use trace::NsxTraceArgs;

use std::io::Write;
use std::time::SystemTime;

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

/// Runs `tierwall nsx ...`; `now` dates the clusters' LAST-SEEN.
pub fn run(
    args: &NsxArgs,
    now: SystemTime,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    match &args.command {
        NsxCommand::Get(get) => get::run(get, now, out, err),
        NsxCommand::Trace(trace) => trace::run(trace, out),
    }
}
