//! ClusterGroup and Group admission (reference §1.4): allowed field combinations, selector
//! labels, ipBlocks (same checks as policy ipBlocks, no multicast/unicast mix), and the
//! one-level childGroups nesting rules. Parents are computed from the store: the groups of the
//! same kind (and, for Groups, the same Namespace) whose `childGroups` name this group. Children
//! that do not exist yet are accepted. DELETE is always allowed.

use super::field::{Check, Violation};
use super::net::{is_multicast, parse_cidr};
use super::policy::{check_selector_labels, check_selector_operators, validate_ip_block};
use crate::store::Store;
use tierwall_model::antrea::{AntreaGroup, GroupSpec};
use tierwall_model::{Kind, Object, ObjectKey};

const CLUSTER_GROUP_FIELDS_MSG: &str = "At most one of podSelector, nodeSelector, externalEntitySelector, serviceReference, ipBlock, ipBlocks or childGroups can be set for a ClusterGroup";
const GROUP_FIELDS_MSG: &str = "At most one of podSelector, externalEntitySelector, serviceReference, ipBlocks or childGroups can be set for a Group";

fn fields_set(s: &GroupSpec) -> usize {
    [
        s.pod_selector.is_some(),
        s.namespace_selector.is_some(),
        s.node_selector.is_some(),
        s.external_entity_selector.is_some(),
        s.ip_block.is_some(),
        !s.ip_blocks.is_empty(),
        s.service_reference.is_some(),
        !s.child_groups.is_empty(),
    ]
    .into_iter()
    .filter(|b| *b)
    .count()
}

/// CREATE and UPDATE of a ClusterGroup (`kind` = ClusterGroup) or Group.
pub fn validate(store: &Store, kind: Kind, group: &AntreaGroup) -> Check {
    let s = &group.spec;
    let cluster = kind == Kind::ClusterGroup;
    let namespace = group.metadata.namespace.as_deref().unwrap_or("default");
    let name = group.metadata.name.as_str();
    // `ns/name` for Groups, `name` for ClusterGroups, as Antrea's messages print them.
    let display = |n: &str| {
        if cluster {
            n.to_string()
        } else {
            format!("{namespace}/{n}")
        }
    };
    let kind_name = if cluster { "ClusterGroup" } else { "Group" };

    let n = fields_set(s);
    let allowed_pair = s.namespace_selector.is_some()
        && (s.pod_selector.is_some() || s.external_entity_selector.is_some());
    if n > 2 || (n == 2 && !allowed_pair) {
        return Err(Violation::new(
            "spec",
            if cluster {
                CLUSTER_GROUP_FIELDS_MSG
            } else {
                GROUP_FIELDS_MSG
            },
        ));
    }
    check_selector_labels(&[
        ("spec.podSelector".to_string(), s.pod_selector.as_ref()),
        (
            "spec.namespaceSelector".to_string(),
            s.namespace_selector.as_ref(),
        ),
        (
            "spec.externalEntitySelector".to_string(),
            s.external_entity_selector.as_ref(),
        ),
    ])?;

    let blocks = s
        .ip_block
        .iter()
        .map(|b| ("spec.ipBlock".to_string(), b))
        .chain(
            s.ip_blocks
                .iter()
                .enumerate()
                .map(|(k, b)| (format!("spec.ipBlocks[{k}]"), b)),
        );
    let (mut multicast, mut unicast) = (false, false);
    for (path, block) in blocks {
        validate_ip_block(block, &path)?;
        if let Ok(cidr) = parse_cidr(&block.cidr) {
            if is_multicast(cidr.ip) {
                multicast = true;
            } else {
                unicast = true;
            }
        }
        if multicast && unicast {
            return Err(Violation::new(
                path,
                "can not set multicast groupAddress together with unicast ip address",
            ));
        }
    }

    if !s.child_groups.is_empty() {
        if let Some(k) = s.child_groups.iter().position(|c| c == name) {
            return Err(Violation::new(
                format!("spec.childGroups[{k}]"),
                format!(
                    "cannot set {kind_name} {} as its own childGroup",
                    display(name)
                ),
            ));
        }
        let own_key = ObjectKey::new(kind, Some(namespace), name);
        let parents = store
            .of_kind(kind)
            .filter(|o| o.key() != own_key && (cluster || o.key().namespace.as_deref() == Some(namespace)))
            .filter(|o| matches!(o, Object::AntreaGroup(_, g) if g.spec.child_groups.iter().any(|c| c == name)))
            .count();
        if parents > 0 {
            return Err(Violation::new(
                "spec.childGroups",
                format!(
                    "cannot set childGroups for {kind_name} {}, who has {parents} parents",
                    display(name)
                ),
            ));
        }
        for (k, child) in s.child_groups.iter().enumerate() {
            let key = ObjectKey::new(kind, Some(namespace), child);
            if let Some(Object::AntreaGroup(_, c)) = store.get(&key) {
                let grandchildren = c.spec.child_groups.len();
                if grandchildren > 0 {
                    return Err(Violation::new(
                        format!("spec.childGroups[{k}]"),
                        format!(
                            "cannot set {kind_name} {} as childGroup, who has {grandchildren} childGroups itself",
                            display(child)
                        ),
                    ));
                }
            }
        }
    }

    // tierwall addition: matchExpressions operators of every selector (see policy.rs).
    check_selector_operators(&[
        ("spec.podSelector".to_string(), s.pod_selector.as_ref()),
        (
            "spec.namespaceSelector".to_string(),
            s.namespace_selector.as_ref(),
        ),
        ("spec.nodeSelector".to_string(), s.node_selector.as_ref()),
        (
            "spec.externalEntitySelector".to_string(),
            s.external_entity_selector.as_ref(),
        ),
    ])
}
