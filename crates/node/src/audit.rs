//! Audit logging in Antrea's np.log format (reference §2.11):
//!
//! ```text
//! <yyyy/mm/dd> <hh:mm:ss.micro> <table> <npRef> <ruleName> <direction> <action> <ofPriority>
//!     <appliedToRef> <srcIP> <srcPort> <dstIP> <dstPort> <protocol> <pktLength> <logLabel>
//! ```
//!
//! Empty values print `<nil>`. Drop and Reject lines are de-duplicated: identical lines within
//! one second are written once, suffixed ` [<n> packets in <duration>]` when n > 1. Allow (and
//! Pass) lines are written immediately.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;
use tierwall_node_api::BASELINE_TIER_PRIORITY;
use tierwall_node_api::{Action, Direction};

/// Which stage a logged rule belongs to; gives the table name Antrea prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Antrea-native rules of tiers before baseline.
    AntreaPolicy,
    /// Kubernetes NetworkPolicy allow rules.
    K8sRule,
    /// Kubernetes isolation drops and baseline rules (Antrea's default-rule table).
    Default,
}

/// What is known about the rule that logged a packet.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRule {
    /// `AntreaClusterNetworkPolicy:name`, `AntreaNetworkPolicy:ns/name`, `K8sNetworkPolicy:ns/name`
    /// or just `K8sNetworkPolicy` for isolation drops.
    pub policy_ref: String,
    pub rule_name: Option<String>,
    pub direction: Direction,
    pub action: Action,
    pub stage: Stage,
    /// Antrea's OpenFlow priority for the rule (`None` prints `<nil>`).
    pub priority: Option<i64>,
    pub log_label: Option<String>,
}

/// One logged packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedPacket {
    /// `ns/pod` of the local Pod the rule is enforced for.
    pub applied_to: Option<String>,
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    /// Ports only for TCP and UDP.
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// IP protocol number.
    pub protocol: u8,
    /// IP total length.
    pub length: u32,
}

/// Antrea's initial OpenFlow priority guess for a rule (`priority.go`): normal tiers
/// `65000 − (200·tier + policyPriority·k + ruleIndex)` with k = 100 for tier 250 and 20
/// otherwise; baseline `180 − (policyPriority·10 + ruleIndex)`.
pub fn openflow_priority(tier_priority: i32, policy_priority: f64, rule_index: usize) -> i64 {
    let idx = rule_index as f64;
    let v = if tier_priority >= BASELINE_TIER_PRIORITY {
        180.0 - (policy_priority * 10.0 + idx)
    } else {
        let k = if tier_priority == 250 { 100.0 } else { 20.0 };
        65000.0 - (200.0 * f64::from(tier_priority) + policy_priority * k + idx)
    };
    v.floor() as i64
}

/// IANA protocol name as Antrea prints it.
pub fn protocol_name(proto: u8) -> String {
    match proto {
        1 => "ICMP".into(),
        2 => "IGMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "IPv6-ICMP".into(),
        132 => "SCTP".into(),
        p => p.to_string(),
    }
}

fn nil<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "<nil>".to_string(), |v| v.to_string())
}

/// The part of a line after the timestamp (what de-duplication compares).
pub fn format_message(rule: &LoggedRule, packet: &LoggedPacket) -> String {
    let table = match (rule.stage, rule.direction) {
        (Stage::AntreaPolicy, Direction::Ingress) => "AntreaPolicyIngressRule",
        (Stage::AntreaPolicy, Direction::Egress) => "AntreaPolicyEgressRule",
        (Stage::K8sRule, Direction::Ingress) => "IngressRule",
        (Stage::K8sRule, Direction::Egress) => "EgressRule",
        (Stage::Default, Direction::Ingress) => "IngressDefaultRule",
        (Stage::Default, Direction::Egress) => "EgressDefaultRule",
    };
    let l4 = matches!(packet.protocol, 6 | 17);
    let mut s = String::new();
    let _ = write!(
        s,
        "{table} {} {} {} {} {} {} {} {} {} {} {} {} {}",
        rule.policy_ref,
        nil(rule.rule_name.as_deref().filter(|n| !n.is_empty())),
        rule.direction.as_str(),
        rule.action.as_str(),
        nil(rule.priority),
        nil(packet.applied_to.as_deref()),
        packet.src_ip,
        nil(packet.src_port.filter(|_| l4)),
        packet.dst_ip,
        nil(packet.dst_port.filter(|_| l4)),
        protocol_name(packet.protocol),
        packet.length,
        nil(rule.log_label.as_deref().filter(|l| !l.is_empty())),
    );
    s
}

/// Go's log timestamp (`2006/01/02 15:04:05.000000`) for a UNIX time in microseconds (UTC).
pub fn format_timestamp(unix_micros: i64) -> String {
    let secs = unix_micros.div_euclid(1_000_000);
    let micros = unix_micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}.{micros:06}",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `time.Duration.String()` (`1.5s`, `851.234ms`, `12µs`).
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let trim = |v: f64, unit: &str| {
        let s = format!("{v:.9}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s}{unit}")
    };
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        trim(nanos as f64 / 1e3, "µs")
    } else if nanos < 1_000_000_000 {
        trim(nanos as f64 / 1e6, "ms")
    } else {
        trim(nanos as f64 / 1e9, "s")
    }
}

/// De-duplicates Drop/Reject lines over a one-second window and renders final lines.
#[derive(Debug, Default)]
pub struct AuditLog {
    /// message → (first time µs, last time µs, count)
    pending: BTreeMap<String, (i64, i64, u64)>,
}

/// Length of the de-duplication window.
pub const DEDUP_WINDOW_MICROS: i64 = 1_000_000;

impl AuditLog {
    /// Records a packet at `now_micros`; returns the lines ready to be written (an Allow line
    /// now, or Drop/Reject lines whose window has closed).
    pub fn record(
        &mut self,
        rule: &LoggedRule,
        packet: &LoggedPacket,
        now_micros: i64,
    ) -> Vec<String> {
        let mut out = self.flush(now_micros, false);
        let message = format_message(rule, packet);
        if matches!(rule.action, Action::Drop | Action::Reject) {
            let e = self
                .pending
                .entry(message)
                .or_insert((now_micros, now_micros, 0));
            e.1 = now_micros;
            e.2 += 1;
        } else {
            out.push(format!("{} {message}", format_timestamp(now_micros)));
        }
        out
    }

    /// Lines whose window closed by `now_micros` (all of them when `all`).
    pub fn flush(&mut self, now_micros: i64, all: bool) -> Vec<String> {
        let done: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (first, _, _))| all || now_micros - first >= DEDUP_WINDOW_MICROS)
            .map(|(m, _)| m.clone())
            .collect();
        let mut lines: Vec<(i64, String)> = done
            .into_iter()
            .filter_map(|m| {
                let (first, last, n) = self.pending.remove(&m)?;
                let mut line = format!("{} {m}", format_timestamp(first));
                if n > 1 {
                    let d = Duration::from_micros(u64::try_from(last - first).unwrap_or(0));
                    let _ = write!(line, " [{n} packets in {}]", go_duration(d));
                }
                Some((first, line))
            })
            .collect();
        lines.sort();
        lines.into_iter().map(|(_, l)| l).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: Action) -> LoggedRule {
        LoggedRule {
            policy_ref: "AntreaClusterNetworkPolicy:acnp-log".into(),
            rule_name: Some("drop-rule".into()),
            direction: Direction::Egress,
            action,
            stage: Stage::AntreaPolicy,
            priority: Some(openflow_priority(250, 1.0, 0)),
            log_label: Some("my-label".into()),
        }
    }

    fn packet() -> LoggedPacket {
        LoggedPacket {
            applied_to: Some("x/a".into()),
            src_ip: "10.10.1.11".parse().unwrap(),
            dst_ip: "10.10.2.12".parse().unwrap(),
            src_port: Some(53646),
            dst_port: Some(80),
            protocol: 6,
            length: 60,
        }
    }

    #[test]
    fn formats_like_antrea() {
        assert_eq!(
            format_message(&rule(Action::Drop), &packet()),
            "AntreaPolicyEgressRule AntreaClusterNetworkPolicy:acnp-log drop-rule Egress Drop 14900 x/a 10.10.1.11 53646 10.10.2.12 80 TCP 60 my-label"
        );
        let k8s = LoggedRule {
            policy_ref: "K8sNetworkPolicy".into(),
            rule_name: None,
            direction: Direction::Ingress,
            action: Action::Drop,
            stage: Stage::Default,
            priority: None,
            log_label: None,
        };
        let icmp = LoggedPacket {
            protocol: 1,
            src_port: None,
            dst_port: None,
            length: 84,
            ..packet()
        };
        assert_eq!(
            format_message(&k8s, &icmp),
            "IngressDefaultRule K8sNetworkPolicy <nil> Ingress Drop <nil> x/a 10.10.1.11 <nil> 10.10.2.12 <nil> ICMP 84 <nil>"
        );
    }

    #[test]
    fn timestamps_and_durations_follow_go() {
        // 2023-07-04 12:45:21.804416 UTC
        assert_eq!(
            format_timestamp(1_688_474_721_804_416),
            "2023/07/04 12:45:21.804416"
        );
        assert_eq!(go_duration(Duration::from_micros(851_234)), "851.234ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_micros(12)), "12µs");
    }

    #[test]
    fn drops_are_deduplicated_within_one_second() {
        let mut log = AuditLog::default();
        assert!(log.record(&rule(Action::Drop), &packet(), 0).is_empty());
        assert!(
            log.record(&rule(Action::Drop), &packet(), 400_000)
                .is_empty()
        );
        let lines = log.record(&rule(Action::Allow), &packet(), 1_200_000);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].ends_with("my-label [2 packets in 400ms]"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains(" Allow "));
        assert!(log.flush(0, true).is_empty());
    }
}
