//! Output formats shared by the subcommands: kubectl and antctl tables, kubectl's `AGE`, numbers
//! as Kubernetes prints them, `kind: List` documents for `-o yaml|json`, and the explanation of a
//! `Verdict` (which tier, policy and rule decided a direction).
//!
//! ```text
//!  kubectl:  cells left-aligned, each column padded to its longest cell + 3 (min. width 6),
//!            last column unpadded                      (cli-runtime tabwriter: 6, 4, 3, ' ')
//!  antctl:   first column = longest cell, every other column = " " + cell padded to longest + 1,
//!            empty cells `<NONE>`                      (pkg/antctl/output TableOutputForGetCommands)
//! ```

use serde::Serialize;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tierwall_engine::evaluate::{Decision, DirectionVerdict, RuleHit};
use tierwall_engine::{Outcome, Verdict};

/// `-o` formats of `tierwall get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GetFormat {
    /// kubectl's default table.
    Table,
    /// The table plus extra columns (acnp/annp: APPLIED-TO-PODS, RULES).
    Wide,
    Yaml,
    Json,
}

/// `-o` formats of `tierwall trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    Text,
    Json,
    Yaml,
}

/// kubectl's tabwriter settings (`k8s.io/cli-runtime/pkg/printers/tabwriter.go`).
const KUBECTL_PADDING: usize = 3;
const KUBECTL_MIN_WIDTH: usize = 6;

fn width(cell: &str) -> usize {
    cell.chars().count()
}

/// Renders a kubectl table: every column but the last padded to its longest cell + 3 spaces.
pub fn kubectl_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(columns) {
            line.push_str(cell);
            if i + 1 < columns {
                let padded = (widths[i] + KUBECTL_PADDING).max(KUBECTL_MIN_WIDTH);
                line.push_str(&" ".repeat(padded - width(cell)));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The cell antctl prints for an empty value.
pub const ANTCTL_NONE: &str = "<NONE>";

/// Renders an antctl table exactly as `TableOutputForGetCommands` does: the first column padded
/// to its longest cell, every other column written as `" " + cell` padded to longest + 1
/// (trailing padding included); empty cells become `<NONE>`.
pub fn antctl_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let mut cells: Vec<String> = (0..columns)
            .map(|i| row.get(i).cloned().unwrap_or_default())
            .collect();
        for c in &mut cells {
            if c.is_empty() {
                *c = ANTCTL_NONE.to_string();
            }
        }
        table.push(cells);
    }
    let mut widths = vec![0usize; columns];
    if columns > 1 {
        for (j, w) in widths.iter_mut().enumerate() {
            *w = table.iter().map(|r| width(&r[j])).max().unwrap_or(0);
            if j != 0 {
                *w += 1;
            }
        }
    }
    let mut out = String::new();
    for row in &table {
        for (j, cell) in row.iter().enumerate() {
            let mut val = if j == 0 {
                cell.clone()
            } else {
                format!(" {cell}")
            };
            let w = width(&val);
            if widths[j] > w {
                val.push_str(&" ".repeat(widths[j] - w));
            }
            out.push_str(&val);
        }
        out.push('\n');
    }
    out
}

/// A float as Kubernetes and antctl print it: the shortest form that reads back (`1`, `1.5`,
/// `1.0000000532907336`).
pub fn format_float(value: f64) -> String {
    format!("{value}")
}

/// kubectl's `AGE` cell for a `creationTimestamp` (`<unknown>` when absent or unreadable).
pub fn age(creation_timestamp: Option<&str>, now: SystemTime) -> String {
    let Some(created) = creation_timestamp.and_then(parse_rfc3339) else {
        return "<unknown>".to_string();
    };
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    human_duration(now_secs.saturating_sub(created))
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration` for a number of seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp (`2024-05-01T10:00:00Z`, fractional
/// seconds and `±hh:mm` offsets accepted).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    if d.next().is_some()
        || !(0..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        (
            c,
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
        )
    };
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':');
    let hour: i64 = c.next()?.parse().ok()?;
    let minute: i64 = c.next()?.parse().ok()?;
    let second: i64 = c.next()?.parse().ok()?;
    if c.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The current time, as `AGE` is computed against.
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// A time `seconds` after the epoch (for tests).
pub fn at_epoch_seconds(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Items as kubectl's `kind: List` (`apiVersion`, `items`, `kind`, `metadata`).
pub fn list_document(items: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    })
}

/// Pretty JSON with a final newline.
pub fn to_json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// YAML with a final newline.
pub fn to_yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut s =
        serde_saphyr::to_string(value).map_err(|e| anyhow::anyhow!("cannot write YAML: {e}"))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// `rule <name>` (or `rule #<index>` for rules without a name, i.e. Kubernetes NetworkPolicy rules).
pub fn rule_label(hit: &RuleHit) -> String {
    match &hit.rule {
        Some(name) => format!("rule {name}"),
        None => format!("rule #{}", hit.rule_index),
    }
}

/// The full description of a matched rule: tier, policy, rule name and index, action.
pub fn rule_hit_text(hit: &RuleHit, direction: &str) -> String {
    let mut s = String::new();
    match (&hit.tier, hit.tier_priority) {
        (Some(tier), Some(p)) => {
            let _ = write!(s, "tier {tier} (priority {p}), ");
        }
        (Some(tier), None) => {
            let _ = write!(s, "tier {tier}, ");
        }
        _ => {}
    }
    let _ = write!(s, "policy {}", hit.policy);
    if let Some(p) = hit.policy_priority {
        let _ = write!(s, " (priority {})", format_float(p));
    }
    match &hit.rule {
        Some(name) => {
            let _ = write!(s, ", rule {name} ({direction} rule {})", hit.rule_index);
        }
        None => {
            let _ = write!(s, ", {direction} rule {}", hit.rule_index);
        }
    }
    let _ = write!(s, ", action {}", hit.action.as_str());
    if hit.enable_logging {
        if hit.log_label.is_empty() {
            s.push_str(", logged");
        } else {
            let _ = write!(s, ", logged (label {})", hit.log_label);
        }
    }
    s
}

fn policy_list(policies: &[tierwall_engine::evaluate::PolicyRef]) -> String {
    policies
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The decision line of one direction (`tierwall trace`).
pub fn decision_text(d: &DirectionVerdict) -> String {
    let dir = d.direction.as_str().to_ascii_lowercase();
    match &d.decision {
        Decision::NotEnforced { reason } => format!("not enforced: {reason}"),
        Decision::Rule(hit) | Decision::K8sAllow(hit) => rule_hit_text(hit, &dir),
        Decision::K8sIsolation { policies } => format!(
            "K8s NetworkPolicy isolation: isolated by {} and no rule allows the flow, action Drop",
            policy_list(policies)
        ),
        Decision::Default => "no policy applies: allowed by default".to_string(),
    }
}

/// `egress AntreaClusterNetworkPolicy:acnp-1 rule r1 (tier application)`: the short form of the
/// deciding rule used by `tierwall matrix`.
pub fn deciding_rule_short(d: &DirectionVerdict) -> String {
    let dir = d.direction.as_str().to_ascii_lowercase();
    match &d.decision {
        Decision::Rule(hit) | Decision::K8sAllow(hit) => {
            let mut s = format!("{dir} {} {}", hit.policy, rule_label(hit));
            if let Some(t) = &hit.tier {
                let _ = write!(s, " (tier {t})");
            }
            s
        }
        Decision::K8sIsolation { policies } => {
            format!(
                "{dir} K8s NetworkPolicy isolation ({})",
                policy_list(policies)
            )
        }
        Decision::NotEnforced { reason } => format!("{dir}: not enforced ({reason})"),
        Decision::Default => format!("{dir}: no policy applies"),
    }
}

/// `Dropped by egress AntreaClusterNetworkPolicy:acnp-1 rule r1 (tier application)`.
pub fn blocked_text(v: &Verdict) -> String {
    if let Some(u) = &v.unresolved {
        return format!("not probed: {u}");
    }
    if v.outcome == Outcome::Connected {
        return Outcome::Connected.as_str().to_string();
    }
    format!(
        "{} by {}",
        v.outcome.as_str(),
        deciding_rule_short(v.deciding())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|row| row.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn kubectl_table_matches_the_documented_tier_listing() {
        let t = kubectl_table(
            &["NAME", "PRIORITY", "AGE"],
            &rows(&[
                &["emergency", "50", "27h"],
                &["securityops", "100", "27h"],
                &["application", "250", "27h"],
            ]),
        );
        assert_eq!(
            t,
            "NAME          PRIORITY   AGE\nemergency     50         27h\nsecurityops   100        27h\napplication   250        27h\n"
        );
        let t = kubectl_table(
            &["NAME", "TIER", "PRIORITY", "AGE"],
            &rows(&[&["test-cnp", "emergency", "5", "54s"]]),
        );
        assert_eq!(
            t,
            "NAME       TIER        PRIORITY   AGE\ntest-cnp   emergency   5          54s\n"
        );
    }

    #[test]
    fn kubectl_table_has_a_minimum_column_width() {
        let t = kubectl_table(&["A", "B"], &rows(&[&["x", "y"]]));
        assert_eq!(t, "A     B\nx     y\n");
    }

    #[test]
    fn antctl_table_uses_one_space_and_none_cells() {
        let t = antctl_table(
            &["NAME", "RULES", "TIER-PRIORITY", "PRIORITY"],
            &rows(&[
                &["acnp-1", "1", "250", "1"],
                &["default/test-1", "2", "", ""],
            ]),
        );
        let want = [
            "NAME           RULES TIER-PRIORITY PRIORITY",
            "acnp-1         1     250           1       ",
            "default/test-1 2     <NONE>        <NONE>  ",
        ];
        assert_eq!(t, want.join("\n") + "\n");
    }

    #[test]
    fn floats_print_minimally() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(1.000_000_053_290_733_6), "1.0000000532907336");
    }

    #[test]
    fn human_durations_follow_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (54, "54s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (27 * 3600, "27h"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (40 * 86400, "40d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (10 * 365 * 86400, "10y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn age_from_creation_timestamp() {
        let now =
            at_epoch_seconds(parse_rfc3339("2024-05-02T10:00:00Z").unwrap_or_default() as u64);
        assert_eq!(age(Some("2024-05-01T07:00:00Z"), now), "27h");
        assert_eq!(age(Some("2024-05-02T09:59:06.123+00:00"), now), "54s");
        assert_eq!(age(Some("2024-05-02T11:00:00+02:00"), now), "60m");
        assert_eq!(age(None, now), "<unknown>");
        assert_eq!(age(Some("yesterday"), now), "<unknown>");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("99999999999999999-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800));
    }

    #[test]
    fn list_document_round_trips_through_the_loader() {
        let ns =
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
        let doc = list_document(vec![ns]);
        for text in [
            to_json(&doc).unwrap_or_default(),
            to_yaml(&doc).unwrap_or_default(),
        ] {
            let objects = tierwall_model::load_str("list", &text).unwrap_or_default();
            assert_eq!(objects.len(), 1, "{text}");
        }
    }
}
