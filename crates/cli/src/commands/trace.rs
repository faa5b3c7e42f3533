//! `tierwall trace`: decides one flow and explains it the way Antrea's Traceflow and
//! `antctl query networkpolicyevaluation` do — the resolved flow (and the Service DNAT), then the
//! egress decision at the source and the ingress decision at the destination: where each is
//! enforced, the Pass rules passed through, and the tier, policy and rule that decided.
//!
//! ```text
//!  Flow:      x/a (10.10.1.11) -> y/b (10.10.2.12), 80/TCP, source port 40000
//!  Egress     enforced / passed / decision
//!  Ingress    enforced / passed / decision      (marked "not reached" after an egress denial)
//!  Result: Dropped (decided by Egress at x/a on Node node-0)
//! ```

use crate::input::transport_text;
use crate::output::{self, TraceFormat};
use anyhow::{Context, bail};
use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;
use tierwall_engine::evaluate::{Decision, DirectionVerdict};
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target, Verdict};
use tierwall_scenario::probe_line::{DestinationKind, Endpoint};

/// Options of `tierwall trace`.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    pub source: String,
    pub destination: String,
    pub transport: ProbeTransport,
    pub output: TraceFormat,
}

/// Parses `ns/pod`, `pod:ns/pod`, `node:<name>` or `ip:<addr>`.
pub fn parse_source(text: &str) -> anyhow::Result<Source> {
    Ok(match Endpoint::parse(text).map_err(anyhow::Error::msg)? {
        Endpoint::Pod { namespace, name } => Source::Pod { namespace, name },
        Endpoint::Node(n) => Source::Node(n),
        Endpoint::Ip(ip) => Source::Ip(parse_ip(&ip)?),
        Endpoint::External(n) => {
            bail!(
                "source external:{n}: external names are defined by scenario files only; use ip:<addr>"
            )
        }
    })
}

/// Parses `ns/pod`, `pod:ns/pod`, `service:ns/name`, `node:<name>`, `ip:<addr>` or `fqdn:<name>`.
pub fn parse_target(text: &str) -> anyhow::Result<Target> {
    Ok(
        match DestinationKind::parse(text).map_err(anyhow::Error::msg)? {
            DestinationKind::Pod { namespace, name } => Target::Pod { namespace, name },
            DestinationKind::Service { namespace, name } => Target::Service { namespace, name },
            DestinationKind::Node(n) => Target::Node(n),
            DestinationKind::Ip(ip) => Target::Ip(parse_ip(&ip)?),
            DestinationKind::Fqdn(n) => Target::Fqdn(n),
            DestinationKind::External(n) => {
                bail!(
                    "destination external:{n}: external names are defined by scenario files only; use ip:<addr>"
                )
            }
        },
    )
}

fn parse_ip(text: &str) -> anyhow::Result<IpAddr> {
    text.trim()
        .parse()
        .with_context(|| format!("{text:?} is not an IP address"))
}

/// Runs the trace: exit 0 whatever the verdict; an error when the flow cannot be resolved.
pub fn run(engine: &Engine, opts: &TraceOptions, out: &mut dyn Write) -> anyhow::Result<u8> {
    let text = render(engine, opts)?;
    out.write_all(text.as_bytes())?;
    Ok(0)
}

/// `--live`: one real probe through a testbed, printed after the prediction.
pub fn run_live(engine: Engine, opts: &TraceOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let source = parse_source(&opts.source)?;
    let target = parse_target(&opts.destination)?;
    let probe_helper = super::testbed::probe_helper_command()?;
    let trace = tierwall_lab::traceflow::trace(
        engine,
        &source,
        &target,
        opts.transport,
        Some(probe_helper),
    )
    .map_err(anyhow::Error::msg)
    .context("live trace (needs root, ip and nft)")?;
    writeln!(out, "\nLive (real packet through a testbed)")?;
    writeln!(
        out,
        "  observed: {} ({})",
        trace.observed.as_str(),
        trace.detail
    )?;
    if trace.rules_hit.is_empty() {
        writeln!(
            out,
            "  rule counters hit: none (no rule matched: allowed by default)"
        )?;
    }
    for (id, n) in &trace.rules_hit {
        writeln!(out, "  rule counter hit: {id} (+{n})")?;
    }
    let agrees = trace.observed == trace.predicted.outcome;
    writeln!(
        out,
        "  prediction: {} — {}",
        trace.predicted.outcome.as_str(),
        if agrees {
            "the dataplane agrees"
        } else {
            "THE DATAPLANE DISAGREES"
        }
    )?;
    Ok(())
}

/// The trace output in the requested format.
pub fn render(engine: &Engine, opts: &TraceOptions) -> anyhow::Result<String> {
    let source = parse_source(&opts.source)?;
    let target = parse_target(&opts.destination)?;
    let verdict = engine.probe(&source, &target, opts.transport);
    if let Some(reason) = &verdict.unresolved {
        bail!(
            "cannot trace {} -> {}: {reason}",
            source_label(&source),
            target_label(&target)
        );
    }
    match opts.output {
        TraceFormat::Json => output::to_json(&verdict),
        TraceFormat::Yaml => output::to_yaml(&verdict),
        TraceFormat::Text => Ok(explain(engine, &source, &target, opts.transport, &verdict)),
    }
}

fn source_label(s: &Source) -> String {
    match s {
        Source::Pod { namespace, name } => format!("{namespace}/{name}"),
        Source::Node(n) => format!("node:{n}"),
        Source::Ip(ip) => format!("ip:{ip}"),
    }
}

fn target_label(t: &Target) -> String {
    match t {
        Target::Pod { namespace, name } => format!("{namespace}/{name}"),
        Target::Service { namespace, name } => format!("service:{namespace}/{name}"),
        Target::Node(n) => format!("node:{n}"),
        Target::Ip(ip) => format!("ip:{ip}"),
        Target::Fqdn(n) => format!("fqdn:{n}"),
    }
}

/// The address the client dials (before DNAT).
fn dialed_ip(engine: &Engine, target: &Target) -> Option<IpAddr> {
    let c = engine.cluster();
    match target {
        Target::Pod { namespace, name } => c.pod(namespace, name).and_then(|p| p.ip),
        Target::Service { namespace, name } => {
            c.service(namespace, name).and_then(|s| s.cluster_ip)
        }
        Target::Node(n) => c.nodes.get(n).and_then(|n| n.ips.first().copied()),
        Target::Ip(ip) => Some(*ip),
        Target::Fqdn(n) => c.resolve_dns(n).first().copied(),
    }
}

fn with_ip(label: &str, ip: Option<IpAddr>) -> String {
    match ip {
        Some(ip) => format!("{label} ({ip})"),
        None => label.to_string(),
    }
}

/// An address, with the Pod or Node that owns it.
fn owned_ip(engine: &Engine, ip: IpAddr) -> String {
    let c = engine.cluster();
    if let Some(p) = c.pod_at(ip) {
        return format!("{ip} (Pod {}/{})", p.namespace, p.name);
    }
    match c.node_at(ip) {
        Some(n) => format!("{ip} (Node {})", n.name),
        None => ip.to_string(),
    }
}

/// Parses `--dns NAME=IP[,IP...]`.
pub fn parse_dns(text: &str) -> anyhow::Result<(String, Vec<IpAddr>)> {
    let Some((name, ips)) = text
        .split_once('=')
        .filter(|(n, i)| !n.trim().is_empty() && !i.trim().is_empty())
    else {
        bail!("--dns {text:?}: expected NAME=IP[,IP...]");
    };
    let ips = ips
        .split(',')
        .map(parse_ip)
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(|| format!("--dns {text:?}"))?;
    Ok((name.trim().to_string(), ips))
}

/// The text explanation of a verdict.
pub fn explain(
    engine: &Engine,
    source: &Source,
    target: &Target,
    transport: ProbeTransport,
    v: &Verdict,
) -> String {
    let mut s = String::new();
    let transport_part = match transport {
        ProbeTransport::L4 { src_port, .. } => {
            format!("{}, source port {src_port}", transport_text(&transport))
        }
        ProbeTransport::Icmp {
            icmp_type,
            icmp_code,
        } => format!("ICMP type {icmp_type} code {icmp_code}"),
    };
    let dst_ip = if v.service.is_some() {
        dialed_ip(engine, target)
    } else {
        v.dst_ip
    };
    let src = match source {
        Source::Ip(ip) => owned_ip(engine, *ip),
        s => with_ip(&source_label(s), v.src_ip),
    };
    let dst = match target {
        Target::Ip(ip) => owned_ip(engine, *ip),
        t => with_ip(&target_label(t), dst_ip),
    };
    let _ = writeln!(s, "Flow:     {src} -> {dst}, {transport_part}");
    if let Some(svc) = &v.service {
        let backend = match (&v.dst_pod, v.dst_ip) {
            (Some(pod), ip) => with_ip(&format!("Pod {pod}"), ip),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => "?".to_string(),
        };
        let port = match (v.dst_port, transport) {
            (Some(p), ProbeTransport::L4 { protocol, .. }) => {
                format!(", port {p}/{}", protocol.as_str())
            }
            _ => String::new(),
        };
        let _ = writeln!(s, "DNAT:     Service {svc} -> backend {backend}{port}");
    }
    let egress_denied = v.egress.decision.outcome() != Outcome::Connected;
    direction_block(&mut s, &v.egress, None);
    let not_reached = egress_denied.then(|| {
        format!(
            "not reached: the flow is {} at egress",
            v.egress.decision.outcome().as_str().to_ascii_lowercase()
        )
    });
    direction_block(&mut s, &v.ingress, not_reached.as_deref());
    s.push('\n');
    if v.outcome == Outcome::Connected {
        let _ = writeln!(s, "Result: Connected (Egress and Ingress both allow)");
    } else {
        let d = v.deciding();
        let place = match (&d.enforced_for, &d.node) {
            (Some(e), Some(n)) => format!(" at {e} on Node {n}"),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "Result: {} (decided by {}{place})",
            v.outcome.as_str(),
            d.direction.as_str()
        );
    }
    s
}

fn direction_block(s: &mut String, d: &DirectionVerdict, note: Option<&str>) {
    s.push('\n');
    match note {
        Some(n) => {
            let _ = writeln!(s, "{} ({n})", d.direction.as_str());
        }
        None => {
            let _ = writeln!(s, "{}", d.direction.as_str());
        }
    }
    if let Decision::NotEnforced { reason } = &d.decision {
        let _ = writeln!(s, "  not enforced: {reason}");
        return;
    }
    match (&d.enforced_for, &d.node) {
        (Some(e), Some(n)) => {
            let _ = writeln!(s, "  enforced: for {e} on Node {n}");
        }
        (Some(e), None) => {
            let _ = writeln!(s, "  enforced: for {e}");
        }
        _ => {}
    }
    let dir = d.direction.as_str().to_ascii_lowercase();
    for hit in &d.passed {
        let _ = writeln!(
            s,
            "  passed:   {} (on to Kubernetes NetworkPolicies)",
            output::rule_hit_text(hit, &dir)
        );
    }
    let _ = writeln!(s, "  decision: {}", output::decision_text(d));
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_engine::cluster::L4Protocol;

    const MANIFEST: &str = r#"
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: acnp-drop-to-yb}
spec:
  tier: securityops
  priority: 5
  appliedTo: [{podSelector: {matchLabels: {pod: a}}, namespaceSelector: {matchLabels: {ns: x}}}]
  egress:
  - name: drop-to-y-b
    action: Drop
    to: [{podSelector: {matchLabels: {pod: b}}, namespaceSelector: {matchLabels: {ns: y}}}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: pass-x}
spec:
  priority: 1
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  ingress: [{name: pass-all, action: Pass}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec: {podSelector: {}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: z}
spec:
  selector: {pod: c}
  ports: [{port: 8080, targetPort: 80}]
"#;

    fn engine() -> Engine {
        let mut e = Engine::new();
        for o in crate::input::standard_cluster_objects() {
            e.apply(o).unwrap_or_else(|err| panic!("{err}"));
        }
        for o in tierwall_model::load_str("m.yaml", MANIFEST).unwrap_or_else(|err| panic!("{err}"))
        {
            e.apply(o.object).unwrap_or_else(|err| panic!("{err}"));
        }
        e
    }

    fn trace(
        src: &str,
        dst: &str,
        transport: ProbeTransport,
        output: TraceFormat,
    ) -> anyhow::Result<String> {
        render(
            &engine(),
            &TraceOptions {
                source: src.into(),
                destination: dst.into(),
                transport,
                output,
            },
        )
    }

    const TCP80: ProbeTransport = ProbeTransport::L4 {
        protocol: L4Protocol::Tcp,
        port: 80,
        src_port: 40000,
    };

    #[test]
    fn explains_a_drop_by_a_named_rule() {
        let text = trace("x/a", "y/b", TCP80, TraceFormat::Text).unwrap_or_else(|e| panic!("{e}"));
        let want = "\
Flow:     x/a (10.10.1.11) -> y/b (10.10.2.12), 80/TCP, source port 40000

Egress
  enforced: for x/a on Node node-0
  decision: tier securityops (priority 100), policy AntreaClusterNetworkPolicy:acnp-drop-to-yb (priority 5), rule drop-to-y-b (egress rule 0), action Drop

Ingress (not reached: the flow is dropped at egress)
  enforced: for y/b on Node node-1
  decision: no policy applies: allowed by default

Result: Dropped (decided by Egress at x/a on Node node-0)
";
        assert_eq!(text, want);
    }

    #[test]
    fn explains_pass_then_kubernetes_isolation() {
        let text =
            trace("pod:y/a", "pod:x/b", TCP80, TraceFormat::Text).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("  passed:   tier application (priority 250), policy AntreaClusterNetworkPolicy:pass-x (priority 1), rule pass-all (ingress rule 0), action Pass (on to Kubernetes NetworkPolicies)\n"), "{text}");
        assert!(text.contains("  decision: K8s NetworkPolicy isolation: isolated by K8sNetworkPolicy:x/deny-all and no rule allows the flow, action Drop\n"), "{text}");
        assert!(
            text.ends_with("Result: Dropped (decided by Ingress at x/b on Node node-1)\n"),
            "{text}"
        );
    }

    #[test]
    fn explains_service_dnat_and_defaults() {
        let t = ProbeTransport::L4 {
            protocol: L4Protocol::Tcp,
            port: 8080,
            src_port: 40000,
        };
        let text = trace("node:node-0", "service:z/web", t, TraceFormat::Text)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.contains("DNAT:     Service z/web -> backend Pod z/c (10.10.3.13), port 80/TCP\n"),
            "{text}"
        );
        assert!(
            text.contains("  decision: no policy applies: allowed by default\n"),
            "{text}"
        );
        assert!(
            text.ends_with("Result: Connected (Egress and Ingress both allow)\n"),
            "{text}"
        );
        let icmp = ProbeTransport::Icmp {
            icmp_type: 8,
            icmp_code: 0,
        };
        let text =
            trace("ip:192.0.2.1", "z/a", icmp, TraceFormat::Text).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.starts_with("Flow:     192.0.2.1 -> z/a (10.10.3.11), ICMP type 8 code 0\n"),
            "{text}"
        );
        assert!(
            text.contains("Egress\n  not enforced: source is outside the cluster\n"),
            "{text}"
        );
        let text = trace("x/a", "ip:10.10.2.12", TCP80, TraceFormat::Text)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains(" -> 10.10.2.12 (Pod y/b), 80/TCP"), "{text}");
    }

    #[test]
    fn serializes_the_verdict() {
        let json = trace("x/a", "y/b", TCP80, TraceFormat::Json).unwrap_or_else(|e| panic!("{e}"));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(v["outcome"], "Dropped");
        assert_eq!(v["egress"]["decision"]["Rule"]["rule"], "drop-to-y-b");
        let yaml = trace("x/a", "y/b", TCP80, TraceFormat::Yaml).unwrap_or_else(|e| panic!("{e}"));
        assert!(yaml.contains("outcome: Dropped"), "{yaml}");
    }

    #[test]
    fn resolves_fqdns_through_dns_entries() {
        let mut e = engine();
        let (name, ips) = parse_dns("db.example.com=10.10.2.12").unwrap_or_else(|e| panic!("{e}"));
        e.set_dns(&name, ips);
        let opts = TraceOptions {
            source: "x/a".into(),
            destination: "fqdn:db.example.com".into(),
            transport: TCP80,
            output: TraceFormat::Text,
        };
        let text = render(&e, &opts).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.starts_with(
                "Flow:     x/a (10.10.1.11) -> fqdn:db.example.com (10.10.2.12), 80/TCP"
            ),
            "{text}"
        );
        assert!(parse_dns("db.example.com").is_err());
        assert!(parse_dns("db=10.0.0.1,nope").is_err());
    }

    #[test]
    fn rejects_bad_and_unresolvable_endpoints() {
        for (src, dst) in [
            ("x/nope", "y/b"),
            ("x/a", "service:x/missing"),
            ("bogus", "y/b"),
            ("x/a", "ip:999.1.1.1"),
            ("external:web", "y/b"),
        ] {
            assert!(
                trace(src, dst, TCP80, TraceFormat::Text).is_err(),
                "{src} -> {dst}"
            );
        }
        let e = trace("x/nope", "y/b", TCP80, TraceFormat::Text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(e, "cannot trace x/nope -> y/b: source Pod x/nope not found");
    }
}
