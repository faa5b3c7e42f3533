//! NSX Groups → ClusterGroups (`crd.antrea.io/v1alpha3`), as the captures show: the group's
//! UUID names the parent; each criterion (each term of the expression's disjunctive normal form)
//! becomes a child `<uuid>-N` listed in the parent's `childGroups`; a group of IP addresses only
//! is a single ClusterGroup with `ipBlocks`; PathExpressions add the included groups to
//! `childGroups` (flattened to one level, since Antrea nests only once).
//!
//! Condition → selector: `Namespace Name` becomes `namespaceSelector` on
//! `kubernetes.io/metadata.name`; `Namespace`/`Pod` `Tag` `dis:k8s:<key>|<value>` becomes a
//! `matchExpressions` requirement on label `<key>`; EQUALS/IN map to `In`, NOTEQUALS/NOTIN to
//! `NotIn`; a `Service Name` AND `Namespace Name` criterion becomes `serviceReference`.
//! Anything else (pod names, CONTAINS/STARTSWITH/ENDSWITH/MATCHES, tags without a scope, mixed
//! criteria) cannot be written as an Antrea selector and fails the group.

use super::naming::{
    CREATED_FROM_ANNOTATION, CREATED_FROM_VALUE, DISPLAY_NAME_ANNOTATION, MANAGED_BY_LABEL,
    MANAGED_BY_VALUE, PARENT_ANNOTATION, child_group_name, object_name,
};
use crate::expression::{Literal, Term, to_terms};
use crate::ip::IpLiteral;
use crate::model::{
    Condition, ConditionKey, ConditionOperator, Group, K8S_TAG_PREFIX, MemberType, ScopeOperator,
};
use std::collections::{HashMap, HashSet};
use tierwall_model::antrea::{AntreaGroup, GroupSpec, IpBlock, NamespacedName};
use tierwall_model::meta::{LabelSelector, LabelSelectorRequirement, ObjectMeta};

/// The label Kubernetes puts on every Namespace with its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub const CLUSTER_GROUP_API_VERSION: &str = "crd.antrea.io/v1alpha3";

/// The ClusterGroups of one NSX group.
#[derive(Debug, Clone, PartialEq)]
pub struct TranslatedGroup {
    /// The parent's name.
    pub name: String,
    /// Parent first, then children in index order.
    pub objects: Vec<AntreaGroup>,
    /// What a group that includes this one lists in its `childGroups`: the children, or the
    /// group itself when it has none.
    pub inclusion_names: Vec<String>,
    /// Numbers of the groups this one includes.
    pub includes: Vec<usize>,
}

/// Translates groups on demand, each once; cycles and missing groups are errors. Translated
/// groups are numbered; callers keep the numbers of the groups they use.
pub struct GroupTranslator<'a> {
    groups: HashMap<&'a str, &'a Group>,
    index: HashMap<String, usize>,
    results: Vec<Result<TranslatedGroup, String>>,
    in_progress: HashSet<String>,
}

impl<'a> GroupTranslator<'a> {
    /// `groups` are keyed by their path.
    pub fn new(groups: HashMap<&'a str, &'a Group>) -> Self {
        GroupTranslator {
            groups,
            index: HashMap::new(),
            results: Vec::new(),
            in_progress: HashSet::new(),
        }
    }

    /// The number and translation of the group at `path`.
    pub fn translate(&mut self, path: &str) -> Result<(usize, &TranslatedGroup), String> {
        let number = match self.index.get(path) {
            Some(&number) => number,
            None => {
                let result = self.translate_uncached(path);
                let number = self.results.len();
                self.results.push(result);
                self.index.insert(path.to_string(), number);
                number
            }
        };
        match self.results.get(number) {
            Some(Ok(group)) => Ok((number, group)),
            Some(Err(message)) => Err(message.clone()),
            None => Err(format!("group {path}: not translated")),
        }
    }

    /// The ClusterGroups of the groups numbered `used` and of every group they include, sorted
    /// by name. Consumes the translator: the objects are moved out, not copied.
    pub fn into_objects_of(mut self, used: impl IntoIterator<Item = usize>) -> Vec<AntreaGroup> {
        let mut pending: Vec<usize> = used.into_iter().collect();
        let mut objects: Vec<AntreaGroup> = Vec::new();
        while let Some(number) = pending.pop() {
            let Some(slot) = self.results.get_mut(number) else {
                continue;
            };
            // Taking marks the group as emitted, so each group is emitted once.
            let taken = std::mem::replace(slot, Err(String::new()));
            if let Ok(group) = taken {
                pending.extend(group.includes);
                objects.extend(group.objects);
            }
        }
        objects.sort_unstable_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        objects
    }

    fn translate_uncached(&mut self, path: &str) -> Result<TranslatedGroup, String> {
        let Some(group) = self.groups.get(path).copied() else {
            return Err(format!("group {path} does not exist"));
        };
        if !self.in_progress.insert(path.to_string()) {
            return Err(format!("group {path} includes itself"));
        }
        let result = self.translate_group(path, group);
        self.in_progress.remove(path);
        result.map_err(|message| format!("group {path}: {message}"))
    }

    fn translate_group(&mut self, path: &str, group: &Group) -> Result<TranslatedGroup, String> {
        let name = object_name(group.meta.unique_id.as_deref(), path);
        let terms = to_terms(&group.expression);
        let ip_only = !terms.is_empty()
            && terms
                .iter()
                .all(|t| matches!(t.as_slice(), [Literal::IpAddresses(_)]));
        if ip_only {
            let mut ip_blocks = Vec::new();
            for term in &terms {
                if let [Literal::IpAddresses(ips)] = term.as_slice() {
                    ip_blocks.extend(ip_blocks_of(ips)?);
                }
            }
            let spec = GroupSpec {
                ip_blocks,
                ..GroupSpec::default()
            };
            return Ok(TranslatedGroup {
                objects: vec![cluster_group(&name, None, spec)],
                inclusion_names: vec![name.clone()],
                name,
                includes: Vec::new(),
            });
        }
        let mut children = Vec::new();
        let mut child_groups = Vec::new();
        let mut includes = Vec::new();
        for (index, term) in terms.iter().enumerate() {
            match term.as_slice() {
                [Literal::Paths(paths)] => {
                    for included in paths.iter() {
                        let (number, translated) = self.translate(included)?;
                        child_groups.extend(translated.inclusion_names.iter().cloned());
                        includes.push(number);
                    }
                }
                _ => {
                    let spec = term_spec(term)?;
                    let child = child_group_name(&name, index);
                    child_groups.push(child.clone());
                    children.push(cluster_group(&child, Some(&name), spec));
                }
            }
        }
        let mut seen = HashSet::new();
        child_groups.retain(|c| seen.insert(c.clone()));
        let parent = cluster_group(
            &name,
            None,
            GroupSpec {
                child_groups: child_groups.clone(),
                ..GroupSpec::default()
            },
        );
        let inclusion_names = if child_groups.is_empty() {
            vec![name.clone()]
        } else {
            child_groups
        };
        let mut objects = vec![parent];
        objects.extend(children);
        Ok(TranslatedGroup {
            name,
            objects,
            inclusion_names,
            includes,
        })
    }
}

fn cluster_group(name: &str, parent: Option<&str>, spec: GroupSpec) -> AntreaGroup {
    let mut metadata = ObjectMeta {
        name: name.to_string(),
        ..ObjectMeta::default()
    };
    metadata
        .labels
        .insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string());
    metadata.annotations.insert(
        CREATED_FROM_ANNOTATION.to_string(),
        CREATED_FROM_VALUE.to_string(),
    );
    metadata
        .annotations
        .insert(DISPLAY_NAME_ANNOTATION.to_string(), name.to_string());
    if let Some(parent) = parent {
        metadata
            .annotations
            .insert(PARENT_ANNOTATION.to_string(), parent.to_string());
    }
    AntreaGroup {
        api_version: CLUSTER_GROUP_API_VERSION.to_string(),
        kind: "ClusterGroup".to_string(),
        metadata,
        spec,
        status: None,
    }
}

/// `ipBlocks` for IP literals (ranges become the CIDRs that cover them).
pub fn ip_blocks_of(ips: &[String]) -> Result<Vec<IpBlock>, String> {
    let mut blocks = Vec::new();
    for text in ips {
        let literal =
            IpLiteral::parse(text).ok_or_else(|| format!("{text:?} is not an IP address"))?;
        blocks.extend(literal.to_cidrs().into_iter().map(|cidr| IpBlock {
            cidr: cidr.to_string(),
            except: Vec::new(),
        }));
    }
    Ok(blocks)
}

/// The spec of one child: IP addresses, selectors, or a Service reference.
fn term_spec(term: &Term<'_>) -> Result<GroupSpec, String> {
    if let [Literal::IpAddresses(ips)] = term.as_slice() {
        return Ok(GroupSpec {
            ip_blocks: ip_blocks_of(ips)?,
            ..GroupSpec::default()
        });
    }
    let mut conditions = Vec::new();
    for literal in term {
        match literal {
            Literal::Condition(condition) => conditions.push(*condition),
            Literal::IpAddresses(_) | Literal::Paths(_) => {
                return Err(
                    "IP addresses or group paths ANDed with conditions cannot be expressed as an Antrea ClusterGroup"
                        .to_string(),
                );
            }
            Literal::Unsupported(kind) => {
                return Err(format!(
                    "{kind} cannot be expressed as an Antrea ClusterGroup"
                ));
            }
        }
    }
    if conditions
        .iter()
        .any(|c| c.member_type == MemberType::Service)
    {
        return service_reference_spec(&conditions);
    }
    let mut pod_requirements = Vec::new();
    let mut namespace_requirements = Vec::new();
    for condition in conditions {
        let requirement = selector_requirement(condition)?;
        match condition.member_type {
            MemberType::Pod => pod_requirements.push(requirement),
            MemberType::Namespace => namespace_requirements.push(requirement),
            other => {
                return Err(format!(
                    "member type {other:?} cannot be expressed as an Antrea ClusterGroup"
                ));
            }
        }
    }
    let selector = |requirements: Vec<LabelSelectorRequirement>| {
        (!requirements.is_empty()).then_some(LabelSelector {
            match_labels: None,
            match_expressions: Some(requirements),
        })
    };
    Ok(GroupSpec {
        pod_selector: selector(pod_requirements),
        namespace_selector: selector(namespace_requirements),
        ..GroupSpec::default()
    })
}

fn service_reference_spec(conditions: &[&Condition]) -> Result<GroupSpec, String> {
    let name_of = |member_type: MemberType| {
        let matching: Vec<&&Condition> = conditions
            .iter()
            .filter(|c| c.member_type == member_type)
            .collect();
        match matching.as_slice() {
            [c] if c.key == ConditionKey::Name && c.operator() == ConditionOperator::Equals => {
                Some(c.value.clone())
            }
            _ => None,
        }
    };
    match (name_of(MemberType::Service), name_of(MemberType::Namespace)) {
        (Some(name), Some(namespace)) if conditions.len() == 2 => Ok(GroupSpec {
            service_reference: Some(NamespacedName { name, namespace }),
            ..GroupSpec::default()
        }),
        _ => Err(
            "a Service criterion must be exactly `Service Name EQUALS <name>` AND `Namespace Name EQUALS <namespace>`"
                .to_string(),
        ),
    }
}

/// The label requirement of a Pod or Namespace condition.
fn selector_requirement(condition: &Condition) -> Result<LabelSelectorRequirement, String> {
    let (key, value) = match condition.key {
        ConditionKey::Name if condition.member_type == MemberType::Namespace => {
            (NAMESPACE_NAME_LABEL.to_string(), condition.value.as_str())
        }
        ConditionKey::Tag => {
            if condition.scope_operator == Some(ScopeOperator::NotEquals) {
                return Err("a tag scope NOTEQUALS cannot be expressed as a label selector".into());
            }
            let (scope, tag) = condition.tag_scope_and_value();
            let key = scope.strip_prefix(K8S_TAG_PREFIX).unwrap_or(scope);
            if key.is_empty() {
                return Err(format!(
                    "tag condition {:?} has no scope: a label selector needs the label key",
                    condition.value
                ));
            }
            (key.to_string(), tag)
        }
        other => {
            return Err(format!(
                "{:?} {other:?} conditions cannot be expressed as a label selector",
                condition.member_type
            ));
        }
    };
    let list = |text: &str| -> Vec<String> {
        text.split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let (operator, values) = match condition.operator() {
        ConditionOperator::Equals => ("In", vec![value.to_string()]),
        ConditionOperator::NotEquals => ("NotIn", vec![value.to_string()]),
        ConditionOperator::In => ("In", list(value)),
        ConditionOperator::NotIn => ("NotIn", list(value)),
        other => {
            return Err(format!(
                "operator {other:?} cannot be expressed as a label selector"
            ));
        }
    };
    if values.is_empty() {
        return Err(format!("condition {:?} has no value", condition.value));
    }
    Ok(LabelSelectorRequirement {
        key,
        operator: operator.to_string(),
        values: Some(values),
    })
}
