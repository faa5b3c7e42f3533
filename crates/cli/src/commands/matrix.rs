//! `tierwall matrix`: the reachability matrix between Pods on one port (or ICMP), as the
//! Kubernetes network-policy e2e tests print it, followed by the rule that blocked each blocked
//! cell.
//!
//! ```text
//!      x/a x/b          . connected   X dropped   R rejected   - same Pod
//!  x/a -   X
//!  x/b .   -            x/a -> x/b: Dropped by egress AntreaClusterNetworkPolicy:p rule r1 (tier application)
//! ```

use crate::input::transport_text;
use crate::output;
use anyhow::bail;
use std::fmt::Write as _;
use std::io::Write;
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};

/// Options of `tierwall matrix`.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    pub transport: ProbeTransport,
    /// `ns/name` of the Pods to probe between; empty = every Pod.
    pub pods: Vec<String>,
}

/// Prints the matrix.
pub fn run(engine: &Engine, opts: &MatrixOptions, out: &mut dyn Write) -> anyhow::Result<u8> {
    out.write_all(render(engine, opts)?.as_bytes())?;
    Ok(0)
}

fn select_pods(engine: &Engine, requested: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let cluster = engine.cluster();
    if requested.is_empty() {
        return Ok(cluster.pods.keys().cloned().collect());
    }
    let mut pods: Vec<(String, String)> = Vec::new();
    for text in requested {
        let text = text.trim();
        let Some((ns, name)) = text
            .split_once('/')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        else {
            bail!("--pods: {text:?} is not <namespace>/<name>");
        };
        if cluster.pod(ns, name).is_none() {
            bail!("--pods: Pod {ns}/{name} not found");
        }
        let key = (ns.to_string(), name.to_string());
        if !pods.contains(&key) {
            pods.push(key);
        }
    }
    Ok(pods)
}

/// The matrix, the legend and one line per blocked cell.
pub fn render(engine: &Engine, opts: &MatrixOptions) -> anyhow::Result<String> {
    let pods = select_pods(engine, &opts.pods)?;
    if pods.is_empty() {
        bail!("the cluster has no Pods");
    }
    let names: Vec<String> = pods.iter().map(|(ns, n)| format!("{ns}/{n}")).collect();
    let first = names.iter().map(String::len).max().unwrap_or(0);
    let mut grid = String::new();
    let mut header = format!("{:first$}", "");
    for n in &names {
        let _ = write!(header, " {n}");
    }
    let _ = writeln!(grid, "{}", header.trim_end());
    let mut blocked = Vec::new();
    let mut unresolved = false;
    for (i, (sns, sname)) in pods.iter().enumerate() {
        let mut line = format!("{:first$}", names[i]);
        for (j, (dns, dname)) in pods.iter().enumerate() {
            let cell = if i == j {
                '-'
            } else {
                let v = engine.probe(
                    &Source::Pod {
                        namespace: sns.clone(),
                        name: sname.clone(),
                    },
                    &Target::Pod {
                        namespace: dns.clone(),
                        name: dname.clone(),
                    },
                    opts.transport,
                );
                if v.unresolved.is_some() {
                    unresolved = true;
                    blocked.push(format!(
                        "{} -> {}: {}",
                        names[i],
                        names[j],
                        output::blocked_text(&v)
                    ));
                    '?'
                } else {
                    if v.outcome != Outcome::Connected {
                        blocked.push(format!(
                            "{} -> {}: {}",
                            names[i],
                            names[j],
                            output::blocked_text(&v)
                        ));
                    }
                    v.outcome.cell()
                }
            };
            let _ = write!(line, " {cell:w$}", w = names[j].len());
        }
        let _ = writeln!(grid, "{}", line.trim_end());
    }
    let mut s = grid;
    s.push('\n');
    let _ = write!(
        s,
        "{}: rows are sources, columns destinations; . connected, X dropped, R rejected, - same Pod",
        transport_text(&opts.transport)
    );
    if unresolved {
        s.push_str(", ? not probed");
    }
    s.push('\n');
    for b in blocked {
        let _ = writeln!(s, "{b}");
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_engine::cluster::L4Protocol;

    const MANIFEST: &str = r#"
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: acnp-1}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: a}}, namespaceSelector: {matchLabels: {ns: x}}}]
  egress:
  - name: r1
    action: Drop
    to: [{namespaceSelector: {matchLabels: {ns: y}}}]
---
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: annp-1, namespace: x}
spec:
  tier: baseline
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: b}}}]
  ingress:
  - name: reject-others
    action: Reject
    from: [{namespaceSelector: {}}]
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

    const TCP80: ProbeTransport = ProbeTransport::L4 {
        protocol: L4Protocol::Tcp,
        port: 80,
        src_port: 40000,
    };

    #[test]
    fn prints_the_matrix_and_the_deciding_rules() {
        let pods = ["x/a", "x/b", "y/a"].map(String::from).to_vec();
        let text = render(
            &engine(),
            &MatrixOptions {
                transport: TCP80,
                pods,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let want = "    x/a x/b y/a
x/a -   R   X
x/b .   -   .
y/a .   R   -

80/TCP: rows are sources, columns destinations; . connected, X dropped, R rejected, - same Pod
x/a -> x/b: Rejected by ingress AntreaNetworkPolicy:x/annp-1 rule reject-others (tier baseline)
x/a -> y/a: Dropped by egress AntreaClusterNetworkPolicy:acnp-1 rule r1 (tier application)
y/a -> x/b: Rejected by ingress AntreaNetworkPolicy:x/annp-1 rule reject-others (tier baseline)
";
        assert_eq!(text, want);
    }

    #[test]
    fn covers_every_pod_by_default_and_checks_the_list() {
        let text = render(
            &engine(),
            &MatrixOptions {
                transport: TCP80,
                pods: vec![],
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            text.lines().next(),
            Some("    x/a x/b x/c y/a y/b y/c z/a z/b z/c")
        );
        assert!(
            render(
                &engine(),
                &MatrixOptions {
                    transport: TCP80,
                    pods: vec!["x/q".into()]
                }
            )
            .is_err()
        );
        assert!(
            render(
                &engine(),
                &MatrixOptions {
                    transport: TCP80,
                    pods: vec!["xa".into()]
                }
            )
            .is_err()
        );
    }
}
