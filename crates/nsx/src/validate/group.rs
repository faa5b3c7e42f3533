//! The checks of a Group: expression structure for every group, the Antrea-group criteria, and
//! the AND-only use of KubernetesCluster / KubernetesNamespace in generic groups.

use super::error::{ValidationError, Violation, ViolationCode};
use super::{ReferenceLookup, is_global_path};
use crate::ip::IpLiteral;
use crate::model::{Condition, ConditionKey, Conjunction, Expression, Group, MemberType};

/// The most Condition plus NestedExpression entries a group's `expression` may hold.
pub const MAX_CRITERIA: usize = 5;

/// Checks `group`; paths it includes are read through `lookup`.
pub fn validate_group(group: &Group, lookup: &dyn ReferenceLookup) -> Result<(), ValidationError> {
    let mut violations = Vec::new();
    check_structure("expression", &group.expression, true, &mut violations);
    let criteria = group
        .expression
        .iter()
        .filter(|e| {
            matches!(
                e,
                Expression::Condition(_) | Expression::NestedExpression(_)
            )
        })
        .count();
    if criteria > MAX_CRITERIA {
        violations.push(Violation::new(
            "expression",
            ViolationCode::InvalidExpression,
            format!(
                "{criteria} conditions and nested expressions; at most {MAX_CRITERIA} are allowed"
            ),
        ));
    }
    check_ip_expressions(&group.expression, &mut violations);
    if group.is_antrea() {
        check_antrea_group(group, lookup, &mut violations);
    } else {
        check_kubernetes_scope_conditions(&group.expression, &mut violations);
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ValidationError { violations })
    }
}

/// Expressions at even indices, ConjunctionOperators at odd ones, odd length.
fn check_structure(
    field: &str,
    expressions: &[Expression],
    top_level: bool,
    violations: &mut Vec<Violation>,
) {
    if !expressions.is_empty() && expressions.len().is_multiple_of(2) {
        violations.push(Violation::new(
            field,
            ViolationCode::InvalidExpression,
            "the expression list must have odd length: expressions joined by ConjunctionOperators",
        ));
    }
    for (index, expression) in expressions.iter().enumerate() {
        let entry_field = format!("{field}[{index}]");
        let is_conjunction = matches!(expression, Expression::ConjunctionOperator(_));
        if index % 2 == 1 && !is_conjunction {
            violations.push(Violation::new(
                entry_field,
                ViolationCode::InvalidExpression,
                format!(
                    "a ConjunctionOperator is required at odd positions, found {}",
                    expression.resource_type()
                ),
            ));
            continue;
        }
        if index % 2 == 0 && is_conjunction {
            violations.push(Violation::new(
                entry_field,
                ViolationCode::InvalidExpression,
                "a ConjunctionOperator must sit between two expressions",
            ));
            continue;
        }
        match expression {
            Expression::NestedExpression(nested) if top_level => check_structure(
                &format!("{entry_field}.expressions"),
                &nested.expressions,
                false,
                violations,
            ),
            Expression::Condition(_) | Expression::ConjunctionOperator(_) => {}
            other if !top_level => violations.push(Violation::new(
                entry_field,
                ViolationCode::InvalidExpression,
                format!(
                    "a NestedExpression may hold only Conditions, found {}",
                    other.resource_type()
                ),
            )),
            _ => {}
        }
    }
}

fn check_ip_expressions(expressions: &[Expression], violations: &mut Vec<Violation>) {
    for (index, expression) in expressions.iter().enumerate() {
        let Expression::IpAddressExpression(ips) = expression else {
            continue;
        };
        let mut family: Option<bool> = None;
        for (ip_index, text) in ips.ip_addresses.iter().enumerate() {
            let field = format!("expression[{index}].ip_addresses[{ip_index}]");
            match IpLiteral::parse(text) {
                None => violations.push(Violation::new(
                    field,
                    ViolationCode::InvalidAddress,
                    format!("{text:?} is not an IP address, CIDR or range"),
                )),
                Some(literal) => match family {
                    Some(v4) if v4 != literal.is_ipv4() => violations.push(Violation::new(
                        field,
                        ViolationCode::InvalidAddress,
                        "IPv4 and IPv6 addresses must not be mixed in one IPAddressExpression",
                    )),
                    _ => family = Some(literal.is_ipv4()),
                },
            }
        }
    }
}

/// Every condition with its field path.
fn conditions_with_fields(expressions: &[Expression]) -> Vec<(String, &Condition)> {
    let mut out = Vec::new();
    for (index, expression) in expressions.iter().enumerate() {
        match expression {
            Expression::Condition(condition) => {
                out.push((format!("expression[{index}]"), condition))
            }
            Expression::NestedExpression(nested) => {
                for (inner, e) in nested.expressions.iter().enumerate() {
                    if let Expression::Condition(condition) = e {
                        out.push((
                            format!("expression[{index}].expressions[{inner}]"),
                            condition,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn check_antrea_group(
    group: &Group,
    lookup: &dyn ReferenceLookup,
    violations: &mut Vec<Violation>,
) {
    if !group.extended_expression.is_empty() {
        violations.push(Violation::new(
            "extended_expression",
            ViolationCode::IdentityFirewallNotSupported,
            "identity-firewall expressions are not supported in Antrea groups",
        ));
    }
    let conditions = conditions_with_fields(&group.expression);
    for (field, condition) in &conditions {
        if !condition.member_type.is_antrea_group_member() {
            violations.push(Violation::new(
                field.clone(),
                ViolationCode::UnsupportedMemberType,
                format!(
                    "member type {:?} is not allowed in an Antrea group: use Pod, Namespace or Service",
                    condition.member_type
                ),
            ));
        } else if !matches!(condition.key, ConditionKey::Name | ConditionKey::Tag) {
            violations.push(Violation::new(
                field.clone(),
                ViolationCode::UnsupportedMemberType,
                format!(
                    "key {:?} is not allowed in an Antrea group: use Name or Tag",
                    condition.key
                ),
            ));
        }
    }
    let has_service = conditions
        .iter()
        .any(|(_, c)| c.member_type == MemberType::Service);
    if has_service
        && let Some((field, _)) = conditions
            .iter()
            .find(|(_, c)| c.member_type == MemberType::Pod)
    {
        violations.push(Violation::new(
            field.clone(),
            ViolationCode::UnsupportedMemberType,
            "a Service condition cannot be combined with Pod conditions in one Antrea group",
        ));
    }
    for (index, expression) in group.expression.iter().enumerate() {
        let field = format!("expression[{index}]");
        match expression {
            Expression::MacAddressExpression(_)
            | Expression::ExternalIdExpression(_)
            | Expression::GeoLocationExpression(_) => violations.push(Violation::new(
                field,
                ViolationCode::UnsupportedMemberType,
                format!(
                    "{} is not allowed in an Antrea group",
                    expression.resource_type()
                ),
            )),
            Expression::IdentityGroupExpression(_) => violations.push(Violation::new(
                field,
                ViolationCode::IdentityFirewallNotSupported,
                "identity-firewall expressions are not supported in Antrea groups",
            )),
            Expression::PathExpression(paths) => {
                for (path_index, path) in paths.paths.iter().enumerate() {
                    let path_field = format!("{field}.paths[{path_index}]");
                    if is_global_path(path) {
                        violations.push(Violation::new(
                            path_field,
                            ViolationCode::GlobalGroupNotSupported,
                            format!("global group {path} cannot be a member of an Antrea group"),
                        ));
                        continue;
                    }
                    match lookup.group(path) {
                        None => violations.push(Violation::new(
                            path_field,
                            ViolationCode::UnknownReference,
                            format!("group {path} does not exist"),
                        )),
                        Some(member) if !member.is_antrea() => violations.push(Violation::new(
                            path_field,
                            ViolationCode::NonAntreaGroup,
                            format!("group {path} is not an Antrea group"),
                        )),
                        Some(_) => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// In generic groups, KubernetesCluster / KubernetesNamespace conditions must be ANDed with a
/// condition on another Kubernetes member type (they only narrow it).
fn check_kubernetes_scope_conditions(expressions: &[Expression], violations: &mut Vec<Violation>) {
    // Split the top-level list into AND chains (OR separates them).
    let mut chains: Vec<Vec<(String, &Condition)>> = vec![Vec::new()];
    for (index, expression) in expressions.iter().enumerate() {
        match expression {
            Expression::ConjunctionOperator(c) if c.conjunction_operator == Conjunction::Or => {
                chains.push(Vec::new());
            }
            Expression::Condition(condition) => {
                if let Some(chain) = chains.last_mut() {
                    chain.push((format!("expression[{index}]"), condition));
                }
            }
            Expression::NestedExpression(nested) => {
                for (inner, e) in nested.expressions.iter().enumerate() {
                    if let (Expression::Condition(condition), Some(chain)) = (e, chains.last_mut())
                    {
                        chain.push((
                            format!("expression[{index}].expressions[{inner}]"),
                            condition,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    for chain in &chains {
        let narrows_something = chain
            .iter()
            .any(|(_, c)| c.member_type.is_kubernetes() && !c.member_type.is_kubernetes_scope());
        if narrows_something {
            continue;
        }
        if let Some((field, condition)) = chain
            .iter()
            .find(|(_, c)| c.member_type.is_kubernetes_scope())
        {
            violations.push(Violation::new(
                field.clone(),
                ViolationCode::UnsupportedMemberType,
                format!(
                    "{:?} is an AND condition: combine it with a KubernetesService, KubernetesIngress, KubernetesGateway, KubernetesNode, AntreaEgress or AntreaIPPool condition",
                    condition.member_type
                ),
            ));
        }
    }
}
