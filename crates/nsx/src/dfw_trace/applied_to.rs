//! The Applied-To of one rule on one side ([`AppliedToSet`]): its groups, where they come from,
//! and for a policy on Antrea clusters the clusters whose Pods it is enforced on; whether an
//! address is in it, and why not.

use super::context::Context;
use super::endpoints::{last_segment, member_matches};
use super::flow::Side;
use crate::members::resolve_group_members;
use crate::model::{ClusterInventory, Rule, SecurityPolicy};
use crate::translate::{AppliedToSource, applied_to_of};
use crate::validate::ReferenceLookup;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::rc::Rc;

/// The Applied-To of one rule on one side.
pub(super) struct AppliedToSet<'a> {
    /// Group paths; empty when no group narrows it.
    groups: Vec<&'a str>,
    source: AppliedToSource,
    /// `Some`: a policy on Antrea clusters, enforced on the Pods of these clusters only.
    clusters: Option<&'a BTreeSet<String>>,
}

impl<'a> AppliedToSet<'a> {
    pub(super) fn of(
        policy: &'a SecurityPolicy,
        rule: &'a Rule,
        side: Side,
        clusters: &'a BTreeSet<String>,
    ) -> Self {
        let (source, groups) = applied_to_of(policy, rule, side == Side::Ingress);
        if clusters.is_empty() {
            // The ESX DFW has no "own end" fallback: without a scope group, everywhere.
            let scoped = matches!(
                source,
                AppliedToSource::PolicyScope | AppliedToSource::RuleScope
            );
            return AppliedToSet {
                groups: if scoped { groups } else { Vec::new() },
                source,
                clusters: None,
            };
        }
        AppliedToSet {
            groups,
            source,
            clusters: Some(clusters),
        }
    }

    /// `group servers (policy Applied-To), Pods of cluster c1`, `every Pod of cluster c1`,
    /// `DFW everywhere (ANY)`.
    pub(super) fn describe(&self) -> String {
        let groups = self
            .groups
            .iter()
            .map(|path| format!("group {}", last_segment(path)))
            .collect::<Vec<_>>()
            .join(", ");
        let clusters = self.clusters.map(|c| {
            let ids: Vec<&str> = c.iter().map(String::as_str).collect();
            format!("cluster {}", ids.join(", "))
        });
        match (groups.is_empty(), clusters) {
            (true, None) => "DFW everywhere (ANY)".to_string(),
            (true, Some(c)) => format!("every Pod of {c} ({})", self.source.as_str()),
            (false, None) => format!("{groups} ({})", self.source.as_str()),
            (false, Some(c)) => format!("{groups} ({}), Pods of {c}", self.source.as_str()),
        }
    }

    /// `Ok` when `address` is in this Applied-To, else why not.
    pub(super) fn membership(&self, address: IpAddr, context: &Context<'_>) -> Result<(), String> {
        let spanned: Rc<Vec<ClusterInventory>>;
        let scope: &[ClusterInventory] = match self.clusters {
            None => context.inventories,
            Some(clusters) => {
                spanned = context.inventories_of(clusters);
                let inventories: &[ClusterInventory] = &spanned;
                let is_pod = inventories.iter().any(|i| {
                    i.pods.iter().any(|p| {
                        p.ip_addresses
                            .iter()
                            .any(|ip| ip.trim().parse::<IpAddr>().ok() == Some(address))
                    })
                });
                if !is_pod {
                    let ids: Vec<&str> = clusters.iter().map(String::as_str).collect();
                    return Err(format!(
                        "{address} is not a Pod of cluster {}",
                        ids.join(", ")
                    ));
                }
                inventories
            }
        };
        if self.groups.is_empty() {
            return Ok(());
        }
        let member = self.groups.iter().any(|path| {
            context.lookup.group(path).is_some_and(|group| {
                resolve_group_members(&group, context.lookup, scope)
                    .iter()
                    .any(|m| member_matches(m, address, None))
            })
        });
        if member {
            Ok(())
        } else {
            let names: Vec<&str> = self.groups.iter().map(|p| last_segment(p)).collect();
            Err(format!(
                "{address} is not a member of {} {}",
                if names.len() == 1 { "group" } else { "groups" },
                names.join(", ")
            ))
        }
    }
}
