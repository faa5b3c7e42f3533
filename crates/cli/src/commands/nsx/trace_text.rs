//! The traceflow-style text of `tierwall nsx trace`: the flow, the egress side at the source
//! and the ingress side at the destination (the rules skipped because of Applied-To, the jumps,
//! the matching rule with the group member each end matched through), and the result.

use tierwall_nsx::dfw_trace::{RuleMatch, Side, SideDecision, TraceDecision};
use tierwall_nsx::model::{Direction, RuleAction};

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
pub fn trace_text(decision: &TraceDecision) -> String {
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
