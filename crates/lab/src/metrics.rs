//! The Prometheus endpoint of a testbed's rule statistics (`tierwall metrics`): on each scrape
//! of `/metrics` the named nftables counters of every Node are read (`crate::stats::collect`)
//! and encoded as OpenMetrics text:
//!
//! ```text
//!  tierwall_rule_sessions_total{policy_kind,namespace,policy,rule,direction,node}
//!  tierwall_rule_packets_total{...}      first packets of those sessions (see crate::stats)
//!  tierwall_rule_bytes_total{...}        bytes of those first packets
//! ```
//!
//! One series per rule and Node that the Node enforces (zeros included). `namespace` is empty for
//! cluster-scoped policies; the isolation drops of Kubernetes NetworkPolicies have
//! `policy_kind="K8sIsolation"`, `policy="default-deny"`, `rule="ingress"|"egress"`.
//!
//! Why `prometheus-client` + `tiny_http`: `prometheus-client` is the Prometheus project's own
//! Rust client and owns the exposition format (escaping, `_total` suffixes, `# EOF`), so no text
//! is formatted by hand. The server answers one GET at a time from the scraping thread: a small
//! synchronous server (`tiny_http`, no async runtime, a handful of dependencies) is all that
//! needs; `axum` would bring `tokio` and `hyper` into a CLI that is otherwise synchronous.

use crate::LiveError;
use crate::stats::{self, RuleInfo, Sample};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tierwall_dataplane::names;
use tierwall_engine::Engine;
use tierwall_engine::evaluate::PolicyRef;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of every series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub policy_kind: String,
    pub namespace: String,
    pub policy: String,
    pub rule: String,
    pub direction: String,
    pub node: String,
}

fn labels(info: Option<&RuleInfo>, s: &Sample) -> RuleLabels {
    let (policy_kind, namespace, policy, rule) = match info {
        Some(RuleInfo {
            policy: Some(key),
            name,
            ..
        }) => (
            PolicyRef::from_key(key).type_name().to_string(),
            key.namespace.clone().unwrap_or_default(),
            key.name.clone(),
            name.clone(),
        ),
        Some(RuleInfo { name, .. }) => (
            stats::ISOLATION_KIND.to_string(),
            String::new(),
            stats::ISOLATION_NAME.to_string(),
            name.clone(),
        ),
        // A counter of a rule the engine does not know (not expected): keep it, by id.
        None => (
            String::new(),
            String::new(),
            String::new(),
            s.rule_id.clone(),
        ),
    };
    RuleLabels {
        policy_kind,
        namespace,
        policy,
        rule,
        direction: names::dir_name(s.direction).to_string(),
        node: s.node.clone(),
    }
}

/// The OpenMetrics text of `samples`.
pub fn encode(engine: &Engine, samples: &[Sample]) -> Result<String, LiveError> {
    let index: BTreeMap<String, RuleInfo> = stats::rule_index(engine);
    let sessions = Family::<RuleLabels, Counter>::default();
    let packets = Family::<RuleLabels, Counter>::default();
    let bytes = Family::<RuleLabels, Counter>::default();
    for s in samples {
        let l = labels(index.get(&s.rule_id), s);
        sessions.get_or_create(&l).inc_by(s.stats.sessions);
        packets.get_or_create(&l).inc_by(s.stats.packets);
        bytes.get_or_create(&l).inc_by(s.stats.bytes);
    }
    let mut registry = Registry::default();
    registry.register(
        "tierwall_rule_sessions",
        "Connections decided by the rule (first packets counted by its named nftables counter)",
        sessions,
    );
    registry.register(
        "tierwall_rule_packets",
        "Packets counted by the rule's named nftables counter: the first packet of each session \
         (established traffic is accepted before policy and not counted per rule)",
        packets,
    );
    registry.register(
        "tierwall_rule_bytes",
        "Bytes of the packets counted by the rule's named nftables counter (first packets)",
        bytes,
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .map_err(|e| LiveError::Other(format!("encoding metrics: {e}")))?;
    Ok(out)
}

/// Reads the testbed's counters now and encodes them.
pub fn scrape(prefix: &str) -> Result<String, LiveError> {
    let (engine, samples) = stats::collect(prefix)?;
    encode(&engine, &samples)
}

/// An HTTP server of `/metrics` for one testbed.
pub struct MetricsServer {
    server: tiny_http::Server,
    prefix: String,
}

impl MetricsServer {
    /// Binds `listen` (port 0 picks a free port).
    pub fn bind(listen: SocketAddr, prefix: &str) -> Result<MetricsServer, LiveError> {
        let server = tiny_http::Server::http(listen)
            .map_err(|e| LiveError::Other(format!("listening on {listen}: {e}")))?;
        Ok(MetricsServer {
            server,
            prefix: prefix.to_string(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Serves until [`MetricsServer::unblock`] is called (or forever). `GET /metrics` scrapes
    /// the counters; a failed scrape answers 500 with the error; any other path 404.
    pub fn serve(&self) {
        for request in self.server.incoming_requests() {
            let path = request.url().split('?').next().unwrap_or_default();
            let response = match (request.method(), path) {
                (tiny_http::Method::Get, "/metrics") => match scrape(&self.prefix) {
                    Ok(text) => with_type(tiny_http::Response::from_string(text), CONTENT_TYPE),
                    Err(e) => with_type(
                        tiny_http::Response::from_string(format!("error: {e}\n")),
                        "text/plain; charset=utf-8",
                    )
                    .with_status_code(500),
                },
                _ => with_type(
                    tiny_http::Response::from_string("not found: try /metrics\n"),
                    "text/plain; charset=utf-8",
                )
                .with_status_code(404),
            };
            let _ = request.respond(response);
        }
    }

    /// Makes [`MetricsServer::serve`] return (from another thread).
    pub fn unblock(&self) {
        self.server.unblock();
    }
}

fn with_type(
    r: tiny_http::Response<std::io::Cursor<Vec<u8>>>,
    content_type: &str,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    match tiny_http::Header::from_bytes("Content-Type", content_type) {
        Ok(h) => r.with_header(h),
        Err(()) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleStats;
    use tierwall_engine::compile::{Action, Direction};

    fn engine() -> Engine {
        let mut engine = Engine::new();
        for o in tierwall_scenario::cluster::ClusterModel::standard().objects() {
            engine.apply(o).unwrap_or_else(|e| panic!("{e}"));
        }
        let policy = "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: p}\nspec:\n  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingress: [{action: Allow, name: web, ports: [{port: 80}]}, {action: Drop, ports: [{port: 81}]}]\n";
        for o in tierwall_model::load_str("p.yaml", policy).unwrap_or_else(|e| panic!("{e}")) {
            engine.apply(o.object).unwrap_or_else(|e| panic!("{e}"));
        }
        engine
    }

    fn sample(node: &str, id: &str, n: u64) -> Sample {
        Sample {
            node: node.into(),
            rule_id: id.into(),
            direction: Direction::Ingress,
            action: Action::Allow,
            stats: RuleStats {
                sessions: n,
                packets: n,
                bytes: 60 * n,
            },
        }
    }

    #[test]
    fn stats_sum_over_nodes_and_metrics_keep_them_apart() {
        let engine = engine();
        let samples = [
            sample("node-0", "acnp/p/ingress/0", 2),
            sample("node-1", "acnp/p/ingress/0", 3),
            sample("node-1", "acnp/p/ingress/1", 4),
        ];
        let policies = stats::policy_traffic(&engine, &samples);
        assert_eq!(policies.len(), 1, "{policies:?}");
        let p = &policies[0];
        assert_eq!(
            (p.kind.as_str(), p.name.as_str()),
            ("AntreaClusterNetworkPolicy", "p")
        );
        assert_eq!(p.traffic_stats.sessions, 9);
        assert_eq!(p.traffic_stats.bytes, 540);
        let rules: Vec<(&str, u64)> = p
            .rule_traffic_stats
            .iter()
            .map(|r| (r.name.as_str(), r.traffic_stats.sessions))
            .collect();
        // The Drop rule's name is the one admission generated.
        assert_eq!(rules[0], ("web", 5));
        assert_eq!(rules[1].1, 4);
        assert!(rules[1].0.starts_with("ingress-"), "{rules:?}");

        let text = encode(&engine, &samples).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.contains("# TYPE tierwall_rule_sessions counter"),
            "{text}"
        );
        assert!(
            text.contains(
                "tierwall_rule_sessions_total{policy_kind=\"AntreaClusterNetworkPolicy\",namespace=\"\",policy=\"p\",rule=\"web\",direction=\"ingress\",node=\"node-1\"} 3"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "tierwall_rule_bytes_total{policy_kind=\"AntreaClusterNetworkPolicy\",namespace=\"\",policy=\"p\",rule=\"web\",direction=\"ingress\",node=\"node-0\"} 120"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
