//! Group expressions in disjunctive normal form: the `expression` list (criteria joined by AND
//! and OR, AND binding tighter) becomes a list of terms, each a conjunction of literals
//! (conditions, IP address lists, group paths). Translation turns each term into one child
//! ClusterGroup; member resolution evaluates each term against an inventory.

use crate::model::{Condition, Conjunction, Expression};

/// One literal of a term.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal<'a> {
    Condition(&'a Condition),
    IpAddresses(&'a [String]),
    Paths(&'a [String]),
    /// MAC, external-id, identity or geo-location membership: never a pod or an IP here.
    Unsupported(&'static str),
}

/// A conjunction of literals.
pub type Term<'a> = Vec<Literal<'a>>;

/// The most terms a group may expand to; beyond it the rest are dropped (NSX caps a group at
/// five criteria, so real groups stay far below).
pub const MAX_TERMS: usize = 64;

/// The DNF of an expression list. An empty list gives no terms (a group without members).
pub fn to_terms(expressions: &[Expression]) -> Vec<Term<'_>> {
    // Operands and operators alternate; a malformed list is read leniently (validation rejects it).
    let mut disjuncts: Vec<Vec<Term<'_>>> = Vec::new();
    let mut current: Option<Vec<Term<'_>>> = None;
    let mut pending_or = false;
    for expression in expressions {
        if let Expression::ConjunctionOperator(op) = expression {
            pending_or = op.conjunction_operator == Conjunction::Or;
            continue;
        }
        let operand = operand_terms(expression);
        current = Some(match current.take() {
            None => operand,
            Some(previous) if pending_or => {
                disjuncts.push(previous);
                operand
            }
            Some(previous) => and_terms(&previous, &operand),
        });
        pending_or = false;
    }
    disjuncts.extend(current);
    let mut terms: Vec<Term<'_>> = disjuncts.into_iter().flatten().collect();
    terms.truncate(MAX_TERMS);
    terms
}

fn operand_terms(expression: &Expression) -> Vec<Term<'_>> {
    match expression {
        Expression::Condition(condition) => vec![vec![Literal::Condition(condition)]],
        Expression::IpAddressExpression(ips) => vec![vec![Literal::IpAddresses(&ips.ip_addresses)]],
        Expression::PathExpression(paths) => vec![vec![Literal::Paths(&paths.paths)]],
        Expression::NestedExpression(nested) => to_terms(&nested.expressions),
        Expression::ConjunctionOperator(_) => Vec::new(),
        other => vec![vec![Literal::Unsupported(other.resource_type())]],
    }
}

fn and_terms<'a>(left: &[Term<'a>], right: &[Term<'a>]) -> Vec<Term<'a>> {
    let mut out = Vec::new();
    for l in left {
        for r in right {
            if out.len() >= MAX_TERMS {
                return out;
            }
            out.push(l.iter().chain(r).cloned().collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConditionKey, ConditionOperator, MemberType};

    fn ns(name: &str) -> Expression {
        Expression::condition(
            MemberType::Namespace,
            ConditionKey::Name,
            ConditionOperator::Equals,
            name,
        )
    }

    fn names(terms: &[Term<'_>]) -> Vec<Vec<String>> {
        terms
            .iter()
            .map(|t| {
                t.iter()
                    .map(|l| match l {
                        Literal::Condition(c) => c.value.clone(),
                        Literal::IpAddresses(ips) => ips.join(","),
                        Literal::Paths(p) => p.join(","),
                        Literal::Unsupported(k) => k.to_string(),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn and_binds_tighter_than_or_and_nested_expressions_distribute() {
        let expression = vec![
            ns("a"),
            Expression::and(),
            ns("b"),
            Expression::or(),
            Expression::nested(vec![ns("c"), Expression::and(), ns("d")]),
            Expression::or(),
            Expression::ip_addresses(["10.0.0.0/24"]),
        ];
        assert_eq!(
            names(&to_terms(&expression)),
            vec![
                vec!["a".to_string(), "b".to_string()],
                vec!["c".to_string(), "d".to_string()],
                vec!["10.0.0.0/24".to_string()]
            ]
        );
        let or_inside = vec![
            ns("x"),
            Expression::and(),
            Expression::nested(vec![ns("c"), Expression::or(), ns("d")]),
        ];
        assert_eq!(
            names(&to_terms(&or_inside)),
            vec![
                vec!["x".to_string(), "c".to_string()],
                vec!["x".to_string(), "d".to_string()]
            ]
        );
        assert!(to_terms(&[]).is_empty());
    }
}
