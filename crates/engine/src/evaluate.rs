//! Deciding a flow. Both ends decide: the source's egress (at the source's Node) and then the
//! destination's ingress (at the destination's Node). Each direction runs Antrea's three stages:
//!
//! ```text
//!  1. Antrea-native rules of all tiers but baseline, in order ── Allow/Drop/Reject decide, Pass ─┐
//!  2. Kubernetes NetworkPolicies: an allow rule accepts; else isolation drops  <─────────────────┘
//!  3. baseline-tier rules, in order ── first match decides; no match ⇒ allowed
//! ```
//!
//! A Service destination is resolved to a backend first (DNAT), so policies see the backend;
//! `toServices` rules see the ClusterIP before DNAT. Traffic from a Node to its own Pods and from a
//! Pod to itself is never restricted.

use crate::cluster::{Cluster, L4Protocol, PodInfo, ServiceInfo};
use crate::compile::{Action, AppliedTerm, CompiledPolicy, CompiledRule, Direction};
use crate::matching::{Local, PeerMatch, Remote, Resolver, Transport, ports_match};
use crate::table::{BASELINE_TIER_PRIORITY, RuleTable};
use serde::Serialize;
use std::net::IpAddr;
use tierwall_model::IntOrString;

/// Where a probe starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Pod { namespace: String, name: String },
    Node(String),
    Ip(IpAddr),
}

/// Where a probe goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Pod {
        namespace: String,
        name: String,
    },
    /// A Service ClusterIP (the port is the Service port).
    Service {
        namespace: String,
        name: String,
    },
    /// A Node address (NodePort Services are DNATed).
    Node(String),
    Ip(IpAddr),
    /// A DNS name, resolved by cluster DNS or the engine's DNS table.
    Fqdn(String),
}

/// The final outcome of a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    Connected,
    Dropped,
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Connected => "Connected",
            Outcome::Dropped => "Dropped",
            Outcome::Rejected => "Rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        match text {
            "Connected" => Some(Outcome::Connected),
            "Dropped" => Some(Outcome::Dropped),
            "Rejected" => Some(Outcome::Rejected),
            _ => None,
        }
    }

    /// One-letter matrix cell: `.` connected, `X` dropped, `R` rejected.
    pub fn cell(self) -> char {
        match self {
            Outcome::Connected => '.',
            Outcome::Dropped => 'X',
            Outcome::Rejected => 'R',
        }
    }
}

/// A rule that matched, as traceflow names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleHit {
    /// Tier name (`None` for Kubernetes NetworkPolicies).
    pub tier: Option<String>,
    pub tier_priority: Option<i32>,
    pub policy: PolicyRef,
    pub policy_priority: Option<f64>,
    /// Rule name (`None` for Kubernetes NetworkPolicy rules, which have none).
    pub rule: Option<String>,
    pub rule_index: usize,
    pub action: Action,
    pub enable_logging: bool,
    pub log_label: String,
}

pub use tierwall_node_api::PolicyRef;

/// What decided one direction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Decision {
    /// Not evaluated: the local end is not a Pod or Node policies can select, or the flow is exempt.
    NotEnforced { reason: String },
    /// An Antrea-native rule (any tier, baseline included).
    Rule(RuleHit),
    /// A Kubernetes NetworkPolicy rule allowed it.
    K8sAllow(RuleHit),
    /// Isolated by Kubernetes NetworkPolicies and no rule allowed it.
    K8sIsolation { policies: Vec<PolicyRef> },
    /// No rule applied: allowed by default.
    Default,
}

impl Decision {
    /// Whether the direction lets the flow through, and the outcome if not.
    pub fn outcome(&self) -> Outcome {
        match self {
            Decision::Rule(hit) => match hit.action {
                Action::Drop => Outcome::Dropped,
                Action::Reject => Outcome::Rejected,
                Action::Allow | Action::Pass => Outcome::Connected,
            },
            Decision::K8sIsolation { .. } => Outcome::Dropped,
            _ => Outcome::Connected,
        }
    }
}

/// The decision of one direction, with the endpoint it was enforced for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectionVerdict {
    pub direction: Direction,
    /// `ns/pod` or `node:<name>`; `None` when not enforced.
    pub enforced_for: Option<String>,
    /// The Node where it is enforced.
    pub node: Option<String>,
    /// Pass rules that handed the flow on to Kubernetes NetworkPolicies.
    pub passed: Vec<RuleHit>,
    pub decision: Decision,
}

/// The full verdict of a probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub src_ip: Option<IpAddr>,
    /// Destination address after DNAT.
    pub dst_ip: Option<IpAddr>,
    pub dst_port: Option<u16>,
    /// `ns/name` of the Service the destination was resolved through.
    pub service: Option<String>,
    /// `ns/name` of the destination Pod after resolution.
    pub dst_pod: Option<String>,
    pub egress: DirectionVerdict,
    pub ingress: DirectionVerdict,
    /// Set when the destination could not be resolved (no such Pod, Service without backends, ...).
    pub unresolved: Option<String>,
}

impl Verdict {
    /// The decision that determined the outcome (egress first).
    pub fn deciding(&self) -> &DirectionVerdict {
        if self.egress.decision.outcome() != Outcome::Connected {
            &self.egress
        } else {
            &self.ingress
        }
    }
}

/// The transport of a probe before DNAT: protocol and the port the client dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeTransport {
    L4 {
        protocol: L4Protocol,
        port: u16,
        src_port: u16,
    },
    Icmp {
        icmp_type: u8,
        icmp_code: u8,
    },
}

/// Ephemeral source port used when a probe does not name one.
pub const DEFAULT_SOURCE_PORT: u16 = 40000;

struct ResolvedFlow<'a> {
    src_ip: IpAddr,
    src_pod: Option<&'a PodInfo>,
    src_node: Option<&'a crate::cluster::NodeInfo>,
    dst_ip: IpAddr,
    dst_pod: Option<&'a PodInfo>,
    dst_node: Option<&'a crate::cluster::NodeInfo>,
    transport: Transport,
    service: Option<&'a ServiceInfo>,
    /// The Service whose NodePort the flow arrived on.
    node_port_service: Option<&'a ServiceInfo>,
}

/// Decides flows over a cluster and a rule table.
pub struct Evaluator<'a> {
    pub cluster: &'a Cluster,
    pub table: &'a RuleTable,
    resolver: Resolver<'a>,
}

impl<'a> Evaluator<'a> {
    pub fn new(cluster: &'a Cluster, table: &'a RuleTable) -> Self {
        Evaluator {
            cluster,
            table,
            resolver: Resolver::new(cluster),
        }
    }

    fn not_enforced(direction: Direction, reason: &str) -> DirectionVerdict {
        DirectionVerdict {
            direction,
            enforced_for: None,
            node: None,
            passed: vec![],
            decision: Decision::NotEnforced {
                reason: reason.to_string(),
            },
        }
    }

    fn unresolved(reason: String) -> Verdict {
        Verdict {
            outcome: Outcome::Dropped,
            src_ip: None,
            dst_ip: None,
            dst_port: None,
            service: None,
            dst_pod: None,
            egress: Self::not_enforced(Direction::Egress, "unresolved"),
            ingress: Self::not_enforced(Direction::Ingress, "unresolved"),
            unresolved: Some(reason),
        }
    }

    /// Decides a probe from `source` to `target`.
    pub fn probe(&self, source: &Source, target: &Target, transport: ProbeTransport) -> Verdict {
        match self.resolve(source, target, transport) {
            Ok(flow) => self.decide(&flow),
            Err(reason) => Self::unresolved(reason),
        }
    }

    fn endpoint_at(
        &self,
        ip: IpAddr,
    ) -> (Option<&'a PodInfo>, Option<&'a crate::cluster::NodeInfo>) {
        (self.cluster.pod_at(ip), self.cluster.node_at(ip))
    }

    fn resolve(
        &self,
        source: &Source,
        target: &Target,
        transport: ProbeTransport,
    ) -> Result<ResolvedFlow<'a>, String> {
        let c = self.cluster;
        let (src_ip, src_pod, src_node) = match source {
            Source::Pod { namespace, name } => {
                let pod = c
                    .pod(namespace, name)
                    .ok_or_else(|| format!("source Pod {namespace}/{name} not found"))?;
                let ip = pod
                    .ip
                    .ok_or_else(|| format!("source Pod {namespace}/{name} has no IP"))?;
                if pod.host_network {
                    (ip, None, c.nodes.get(&pod.node))
                } else {
                    (ip, Some(pod), c.node_at(ip))
                }
            }
            Source::Node(name) => {
                let node = c
                    .nodes
                    .get(name)
                    .ok_or_else(|| format!("source Node {name} not found"))?;
                let ip = *node
                    .ips
                    .first()
                    .ok_or_else(|| format!("source Node {name} has no address"))?;
                (ip, None, Some(node))
            }
            Source::Ip(ip) => {
                let (pod, node) = self.endpoint_at(*ip);
                (*ip, pod, node)
            }
        };
        let (dial_ip, dial_pod, dial_node, dial_port_known) = match target {
            Target::Pod { namespace, name } => {
                let pod = c
                    .pod(namespace, name)
                    .ok_or_else(|| format!("destination Pod {namespace}/{name} not found"))?;
                let ip = pod
                    .ip
                    .ok_or_else(|| format!("destination Pod {namespace}/{name} has no IP"))?;
                let node = if pod.host_network {
                    c.nodes.get(&pod.node)
                } else {
                    None
                };
                (
                    ip,
                    if pod.host_network { None } else { Some(pod) },
                    node,
                    true,
                )
            }
            Target::Service { namespace, name } => {
                let svc = c
                    .service(namespace, name)
                    .ok_or_else(|| format!("Service {namespace}/{name} not found"))?;
                let ip = svc
                    .cluster_ip
                    .ok_or_else(|| format!("Service {namespace}/{name} is headless"))?;
                (ip, None, None, false)
            }
            Target::Node(name) => {
                let node = c
                    .nodes
                    .get(name)
                    .ok_or_else(|| format!("destination Node {name} not found"))?;
                let ip = *node
                    .ips
                    .first()
                    .ok_or_else(|| format!("destination Node {name} has no address"))?;
                (ip, None, Some(node), false)
            }
            Target::Ip(ip) => {
                let (pod, node) = self.endpoint_at(*ip);
                (*ip, pod, node, false)
            }
            Target::Fqdn(name) => {
                let ip = *c
                    .resolve_dns(name)
                    .first()
                    .ok_or_else(|| format!("DNS name {name} does not resolve"))?;
                let (pod, node) = self.endpoint_at(ip);
                (ip, pod, node, false)
            }
        };
        let mut flow = ResolvedFlow {
            src_ip,
            src_pod,
            src_node,
            dst_ip: dial_ip,
            dst_pod: dial_pod,
            dst_node: dial_node,
            transport: match transport {
                ProbeTransport::L4 {
                    protocol,
                    port,
                    src_port,
                } => Transport::L4 {
                    protocol,
                    src_port,
                    dst_port: port,
                },
                ProbeTransport::Icmp {
                    icmp_type,
                    icmp_code,
                } => Transport::Icmp {
                    icmp_type,
                    icmp_code,
                },
            },
            service: None,
            node_port_service: None,
        };
        if dial_port_known {
            return Ok(flow);
        }
        // DNAT: ClusterIP, or NodePort on a Node address.
        let ProbeTransport::L4 {
            protocol,
            port,
            src_port,
        } = transport
        else {
            if let Some(svc) = c.service_at(dial_ip) {
                return Err(format!(
                    "ICMP to Service {}/{} ClusterIP is not load-balanced",
                    svc.namespace, svc.name
                ));
            }
            return Ok(flow);
        };
        let mut dnat: Option<(&ServiceInfo, &crate::cluster::ServicePortInfo, bool)> = None;
        for svc in c.services.values() {
            if svc.cluster_ip == Some(dial_ip)
                && let Some(sp) = svc
                    .ports
                    .iter()
                    .find(|p| p.port == port && p.protocol == protocol)
            {
                dnat = Some((svc, sp, false));
                break;
            }
            if dial_node.is_some()
                && matches!(svc.service_type.as_str(), "NodePort" | "LoadBalancer")
                && let Some(sp) = svc
                    .ports
                    .iter()
                    .find(|p| p.node_port == Some(port) && p.protocol == protocol)
            {
                dnat = Some((svc, sp, true));
                break;
            }
        }
        let Some((svc, sp, via_node_port)) = dnat else {
            if c.service_at(dial_ip).is_some() {
                return Err(format!(
                    "no Service port {port}/{} on {dial_ip}",
                    protocol.as_str()
                ));
            }
            return Ok(flow);
        };
        let backend = c
            .service_backends(svc)
            .next()
            .ok_or_else(|| format!("Service {}/{} has no endpoints", svc.namespace, svc.name))?;
        let target_port = match &sp.target_port {
            None => Some(sp.port),
            Some(IntOrString::Int(p)) => u16::try_from(*p).ok(),
            Some(IntOrString::String(name)) => backend.resolve_named_port(name, protocol),
        }
        .ok_or_else(|| {
            format!(
                "Service {}/{} target port does not resolve on {}/{}",
                svc.namespace, svc.name, backend.namespace, backend.name
            )
        })?;
        let ip = backend.ip.ok_or_else(|| "backend without IP".to_string())?;
        flow.dst_ip = ip;
        flow.dst_pod = if backend.host_network {
            None
        } else {
            Some(backend)
        };
        flow.dst_node = if backend.host_network {
            c.nodes.get(&backend.node)
        } else {
            None
        };
        flow.transport = Transport::L4 {
            protocol,
            src_port,
            dst_port: target_port,
        };
        flow.service = Some(svc);
        if via_node_port {
            flow.node_port_service = Some(svc);
        }
        Ok(flow)
    }

    fn decide(&self, flow: &ResolvedFlow<'a>) -> Verdict {
        let dst_port = match flow.transport {
            Transport::L4 { dst_port, .. } => Some(dst_port),
            _ => None,
        };
        let same_endpoint = flow.src_ip == flow.dst_ip;
        let remote_dst = Remote {
            ip: flow.dst_ip,
            pod: flow.dst_pod,
            node: flow.dst_node,
        };
        let remote_src = Remote {
            ip: flow.src_ip,
            pod: flow.src_pod,
            node: flow.src_node,
        };
        let egress = if same_endpoint && flow.service.is_none() {
            Self::not_enforced(
                Direction::Egress,
                "traffic to the Pod's own address never leaves it",
            )
        } else if let Some(pod) = flow.src_pod {
            self.direction(Direction::Egress, Local::Pod(pod), &remote_dst, flow)
        } else if let Some(node) = flow.src_node {
            self.direction(Direction::Egress, Local::Node(node), &remote_dst, flow)
        } else {
            Self::not_enforced(Direction::Egress, "source is outside the cluster")
        };
        let ingress = if same_endpoint {
            Self::not_enforced(
                Direction::Ingress,
                "hairpin traffic to the Pod itself is always allowed",
            )
        } else if let Some(pod) = flow.dst_pod {
            let from_own_node =
                flow.src_node.is_some_and(|n| n.name == pod.node) && flow.src_pod.is_none();
            if from_own_node {
                Self::not_enforced(
                    Direction::Ingress,
                    "traffic from a Node to its own Pods is always allowed",
                )
            } else {
                self.direction(Direction::Ingress, Local::Pod(pod), &remote_src, flow)
            }
        } else if let Some(node) = flow.dst_node {
            self.direction(Direction::Ingress, Local::Node(node), &remote_src, flow)
        } else {
            Self::not_enforced(Direction::Ingress, "destination is outside the cluster")
        };
        let outcome = match egress.decision.outcome() {
            Outcome::Connected => ingress.decision.outcome(),
            denied => denied,
        };
        Verdict {
            outcome,
            src_ip: Some(flow.src_ip),
            dst_ip: Some(flow.dst_ip),
            dst_port,
            service: flow.service.map(|s| format!("{}/{}", s.namespace, s.name)),
            dst_pod: flow.dst_pod.map(|p| format!("{}/{}", p.namespace, p.name)),
            egress,
            ingress,
            unresolved: None,
        }
    }

    fn local_label(local: Local) -> (String, String) {
        match local {
            Local::Pod(p) => (format!("{}/{}", p.namespace, p.name), p.node.clone()),
            Local::Node(n) => (format!("node:{}", n.name), n.name.clone()),
        }
    }

    /// An Antrea NetworkPolicy whose appliedTo Group reaches other namespaces is not realized.
    fn realizable(&self, policy: &CompiledPolicy) -> bool {
        policy.key.kind != tierwall_model::Kind::AntreaNetworkPolicy
            || crate::status::unsupported_applied_group(self.cluster, policy).is_none()
    }

    fn applies(&self, rule: &CompiledRule, local: Local, flow: &ResolvedFlow) -> bool {
        rule.applied.iter().any(|t| match t {
            AppliedTerm::Service { namespace, name } => {
                rule.direction == Direction::Ingress
                    && flow
                        .node_port_service
                        .is_some_and(|s| s.namespace == *namespace && s.name == *name)
            }
            t => self.resolver.applied_selects(t, local),
        })
    }

    /// Whether a rule's peers and ports match the flow, seen from `local`.
    fn rule_matches(
        &self,
        rule: &CompiledRule,
        local: Local,
        remote: &Remote,
        flow: &ResolvedFlow,
    ) -> bool {
        if rule.direction == Direction::Egress && !rule.peers.services.is_empty() {
            let svc_hit = flow.service.is_some_and(|s| {
                flow.node_port_service.is_none()
                    && rule
                        .peers
                        .services
                        .iter()
                        .any(|(ns, n)| *ns == s.namespace && *n == s.name)
            });
            if svc_hit {
                return true;
            }
            if rule.peers.terms.is_empty() {
                return false;
            }
        }
        let Some(how) = self.resolver.peers_select(&rule.peers, local, remote) else {
            return false;
        };
        let named_on = match (rule.direction, local) {
            (Direction::Ingress, Local::Pod(p)) => Some(p),
            (Direction::Ingress, Local::Node(_)) => None,
            (Direction::Egress, _) => (how == PeerMatch::PodMember)
                .then_some(remote.pod)
                .flatten(),
        };
        ports_match(&rule.ports, &flow.transport, named_on)
    }

    fn hit(policy: &CompiledPolicy, rule: &CompiledRule, tier_priority: Option<i32>) -> RuleHit {
        RuleHit {
            tier: policy.tier.clone(),
            tier_priority,
            policy: PolicyRef::from_key(&policy.key),
            policy_priority: policy.tier.as_ref().map(|_| policy.priority),
            rule: (!rule.name.is_empty()).then(|| rule.name.clone()),
            rule_index: rule.index,
            action: rule.action,
            enable_logging: rule.enable_logging,
            log_label: rule.log_label.clone(),
        }
    }

    fn direction(
        &self,
        direction: Direction,
        local: Local,
        remote: &Remote,
        flow: &ResolvedFlow,
    ) -> DirectionVerdict {
        let (label, node) = Self::local_label(local);
        let mut verdict = DirectionVerdict {
            direction,
            enforced_for: Some(label),
            node: Some(node),
            passed: vec![],
            decision: Decision::Default,
        };
        let ordered = self.table.ordered(direction);
        let baseline_start = ordered.partition_point(|s| s.tier_priority < BASELINE_TIER_PRIORITY);
        // Stage 1: Antrea-native tiers before Kubernetes NetworkPolicies.
        for slot in &ordered[..baseline_start] {
            let Some((policy, rule)) = self.table.rule(slot) else {
                continue;
            };
            if !self.realizable(policy)
                || !self.applies(rule, local, flow)
                || !self.rule_matches(rule, local, remote, flow)
            {
                continue;
            }
            let hit = Self::hit(policy, rule, Some(slot.tier_priority));
            if rule.action == Action::Pass {
                verdict.passed.push(hit);
                break;
            }
            verdict.decision = Decision::Rule(hit);
            return verdict;
        }
        // Stage 2: Kubernetes NetworkPolicies (Pods only).
        if let Local::Pod(_) = local {
            let mut isolating = Vec::new();
            for policy in self.table.k8s_policies() {
                let isolates = match direction {
                    Direction::Ingress => policy.isolates_ingress,
                    Direction::Egress => policy.isolates_egress,
                };
                if !isolates
                    || !policy
                        .applied
                        .iter()
                        .any(|t| self.resolver.applied_selects(t, local))
                {
                    continue;
                }
                isolating.push(PolicyRef::from_key(&policy.key));
                for rule in policy.rules(direction) {
                    if self.rule_matches(rule, local, remote, flow) {
                        verdict.decision = Decision::K8sAllow(Self::hit(policy, rule, None));
                        return verdict;
                    }
                }
            }
            if !isolating.is_empty() {
                verdict.decision = Decision::K8sIsolation {
                    policies: isolating,
                };
                return verdict;
            }
        }
        // Stage 3: baseline tier.
        for slot in &ordered[baseline_start..] {
            let Some((policy, rule)) = self.table.rule(slot) else {
                continue;
            };
            if rule.action == Action::Pass || !self.realizable(policy) {
                continue;
            }
            if self.applies(rule, local, flow) && self.rule_matches(rule, local, remote, flow) {
                verdict.decision =
                    Decision::Rule(Self::hit(policy, rule, Some(slot.tier_priority)));
                return verdict;
            }
        }
        verdict
    }
}
