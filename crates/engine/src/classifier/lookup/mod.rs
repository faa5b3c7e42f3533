//! The query path: resolve both ends (Pod, Node or plain address, exactly as the oracle's
//! `resolve` does for Pod and address endpoints), then decide egress at the source and ingress
//! at the destination with word-wide ANDs over the ranked Antrea rules, the Kubernetes
//! NetworkPolicy lists of the local identity, and exact checks for *verify* rules.
//!
//! ```text
//!  candidates = summary(A[local]) & summary(T) & (summary(P_pod) | summary(P_ip) | summary(P_node))
//!  for w in candidate blocks:  m = A[w] & T[w] & (P_pod[w] | P_ip[w] | P_node[w])
//!                              lowest set bit (verified if needed) = first matching rule
//! ```
//!
//! `scan.rs` holds the bit-row scans, `exact.rs` the exact checks of single rules.

mod exact;
mod scan;

use super::terms::ip_key;
use super::{
    Classifier, DirectionDecision, EGRESS, Endpoint, FastDecision, FastPod, FastVerdict, INGRESS,
    NONE, NotCovered, PodEntry, RuleId, proto_index,
};
use crate::compile::Action;
use crate::evaluate::{Outcome, ProbeTransport};
use crate::matching::Transport;
use std::net::IpAddr;

/// One resolved end of a flow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct End {
    ip: IpAddr,
    /// Non-hostNetwork Pod (index into `pods`) and its identity.
    pod: u32,
    ident: u32,
    /// Node entry owning the address (or, for a hostNetwork Pod, its Node).
    node: u32,
    /// Address class (family, class index).
    v6: bool,
    ipc: usize,
}

/// The endpoint a direction is enforced for.
#[derive(Debug, Clone, Copy)]
enum LocalRef {
    Pod { pod: u32, ident: u32 },
    Node(u32),
}

/// The applied row of the local end and its summary.
#[derive(Debug, Clone, Copy)]
struct Applied<'a> {
    row: &'a [u64],
    summary: u64,
}

/// The transport with its port class.
#[derive(Debug, Clone, Copy)]
struct TKey {
    transport: Transport,
    /// `Some((protocol index, port class))` for L4, `None` for ICMP.
    l4: Option<(usize, usize)>,
}

impl Classifier {
    fn pod_entry(&self, i: u32) -> Option<&PodEntry> {
        self.pods.get(i as usize).and_then(Option::as_ref)
    }

    fn end(&self, ip: IpAddr, pod: u32, node: u32) -> End {
        let (v6, k) = ip_key(ip);
        let ipc = if v6 {
            self.ip6.class_of(k)
        } else {
            self.ip4.class_of(k)
        };
        let ident = if pod == NONE {
            NONE
        } else {
            self.pod_fast.get(pod as usize).map_or(NONE, |p| p.ident)
        };
        End {
            ip,
            pod,
            ident,
            node,
            v6,
            ipc,
        }
    }

    fn by_ip(&self, ip: IpAddr) -> (u32, u32) {
        (
            self.pod_by_ip.get(&ip).copied().unwrap_or(NONE),
            self.node_by_ip.get(&ip).copied().unwrap_or(NONE),
        )
    }

    fn no_address(&self, id: u32) -> NotCovered {
        match self.pod_entry(id) {
            Some(p) => NotCovered::NoAddress(format!("{}/{}", p.info.namespace, p.info.name)),
            None => NotCovered::UnknownPod,
        }
    }

    /// A Pod end from the compact per-Pod entry. `as_source`: a non-hostNetwork source also
    /// counts as the Node owning its address (the oracle's `Source::Pod`), a destination not.
    #[inline]
    fn pod_end(&self, id: u32, as_source: bool) -> Result<End, NotCovered> {
        let f = self
            .pod_fast
            .get(id as usize)
            .copied()
            .unwrap_or(FastPod::DEAD);
        if !f.live {
            return Err(NotCovered::UnknownPod);
        }
        let Some(ip) = f.ip else {
            return Err(self.no_address(id));
        };
        let ipc = f.ipc as usize;
        Ok(if f.host {
            End {
                ip,
                pod: NONE,
                ident: NONE,
                node: f.node,
                v6: f.v6,
                ipc,
            }
        } else {
            End {
                ip,
                pod: id,
                ident: f.ident,
                node: if as_source { f.node } else { NONE },
                v6: f.v6,
                ipc,
            }
        })
    }

    fn resolve_src(&self, src: Endpoint) -> Result<End, NotCovered> {
        match src {
            Endpoint::Pod(id) => self.pod_end(id.0, true),
            Endpoint::Ip(ip) => {
                let (pod, node) = self.by_ip(ip);
                Ok(self.end(ip, pod, node))
            }
        }
    }

    fn resolve_dst(&self, dst: Endpoint, transport: &ProbeTransport) -> Result<End, NotCovered> {
        match dst {
            Endpoint::Pod(id) => self.pod_end(id.0, false),
            Endpoint::Ip(ip) => {
                if self.cluster_ips.contains_key(&ip) {
                    return Err(NotCovered::ServiceAddress(ip));
                }
                let (pod, node) = self.by_ip(ip);
                if let (ProbeTransport::L4 { protocol, port, .. }, true) = (transport, node != NONE)
                    && self.node_ports.contains_key(&(*protocol, *port))
                {
                    return Err(NotCovered::NodePort(ip, *port));
                }
                Ok(self.end(ip, pod, node))
            }
        }
    }

    fn tkey(&self, transport: ProbeTransport) -> TKey {
        match transport {
            ProbeTransport::L4 {
                protocol,
                port,
                src_port,
            } => {
                let p = proto_index(protocol);
                let class = self.port_parts[p].class_of(port as u128);
                TKey {
                    transport: Transport::L4 {
                        protocol,
                        src_port,
                        dst_port: port,
                    },
                    l4: Some((p, class)),
                }
            }
            ProbeTransport::Icmp {
                icmp_type,
                icmp_code,
            } => TKey {
                transport: Transport::Icmp {
                    icmp_type,
                    icmp_code,
                },
                l4: None,
            },
        }
    }

    /// Decides a flow on the fast path. `Err` when the flow needs the oracle (Service DNAT).
    pub fn decide(
        &self,
        src: Endpoint,
        dst: Endpoint,
        transport: ProbeTransport,
    ) -> Result<FastVerdict, NotCovered> {
        let s = self.resolve_src(src)?;
        let d = self.resolve_dst(dst, &transport)?;
        let tk = self.tkey(transport);
        let not_enforced = DirectionDecision {
            decision: FastDecision::NotEnforced,
            passed: None,
        };
        let same = s.ip == d.ip;
        let egress = if same {
            not_enforced
        } else if s.pod != NONE {
            self.direction(
                EGRESS,
                LocalRef::Pod {
                    pod: s.pod,
                    ident: s.ident,
                },
                &d,
                &tk,
            )
        } else if s.node != NONE {
            self.direction(EGRESS, LocalRef::Node(s.node), &d, &tk)
        } else {
            not_enforced
        };
        let ingress = if same {
            not_enforced
        } else if d.pod != NONE {
            let from_own_node = s.pod == NONE
                && s.node != NONE
                && match (
                    self.nodes.get(s.node as usize).and_then(Option::as_ref),
                    self.pod_entry(d.pod),
                ) {
                    (Some(n), Some(p)) => n.info.name == p.info.node,
                    _ => false,
                };
            if from_own_node {
                not_enforced
            } else {
                self.direction(
                    INGRESS,
                    LocalRef::Pod {
                        pod: d.pod,
                        ident: d.ident,
                    },
                    &s,
                    &tk,
                )
            }
        } else if d.node != NONE {
            self.direction(INGRESS, LocalRef::Node(d.node), &s, &tk)
        } else {
            not_enforced
        };
        let outcome = match self.outcome_of(&egress.decision) {
            Outcome::Connected => self.outcome_of(&ingress.decision),
            denied => denied,
        };
        Ok(FastVerdict {
            outcome,
            egress,
            ingress,
        })
    }

    /// Decides a batch of flows into `out` (same order), reusing its allocation. (Touching
    /// each flow's rows ahead of the scans, to overlap their cache misses, measured slower than
    /// scanning directly on this workload, so the batch is a plain loop.)
    pub fn decide_batch(
        &self,
        flows: &[(Endpoint, Endpoint, ProbeTransport)],
        out: &mut Vec<Result<FastVerdict, NotCovered>>,
    ) {
        out.clear();
        out.extend(flows.iter().map(|&(s, d, t)| self.decide(s, d, t)));
    }

    fn outcome_of(&self, d: &FastDecision) -> Outcome {
        match d {
            FastDecision::Rule(r) => match self
                .rules
                .get(r.0 as usize)
                .and_then(Option::as_ref)
                .map(|r| r.action)
            {
                Some(Action::Drop) => Outcome::Dropped,
                Some(Action::Reject) => Outcome::Rejected,
                _ => Outcome::Connected,
            },
            FastDecision::K8sIsolation => Outcome::Dropped,
            _ => Outcome::Connected,
        }
    }

    fn direction(&self, dir: usize, local: LocalRef, remote: &End, tk: &TKey) -> DirectionDecision {
        let di = &self.dirs[dir];
        let applied = match local {
            LocalRef::Pod { ident, .. } => Applied {
                row: di.arow.row(ident as usize),
                summary: di.arow.summary(ident as usize),
            },
            LocalRef::Node(n) => Applied {
                row: di.anode.row(n as usize),
                summary: di.anode.summary(n as usize),
            },
        };
        let local_pod = match local {
            LocalRef::Pod { pod, .. } => pod,
            LocalRef::Node(_) => NONE,
        };
        // The rows are looked up once for both scans (tiers, then baseline).
        let rows = self.scan_rows(di, applied, remote, tk);
        let scan = |lo: usize, hi: usize| {
            rows.as_ref()
                .and_then(|rows| self.scan(di, dir, rows, lo, hi, local_pod, remote, tk))
        };
        let mut passed = None;
        if let Some(rank) = scan(0, di.stage1) {
            let rule = di.order.get(rank).copied().unwrap_or(NONE);
            if di
                .pass
                .get(rank / 64)
                .is_some_and(|w| w >> (rank % 64) & 1 == 1)
            {
                passed = Some(RuleId(rule));
            } else {
                return DirectionDecision {
                    decision: FastDecision::Rule(RuleId(rule)),
                    passed: None,
                };
            }
        }
        if let LocalRef::Pod { pod, ident } = local
            && let Some(id) = self.idents.get(ident as usize).and_then(Option::as_ref)
        {
            for &r in &id.k8s_rules[dir] {
                if let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref)
                    && self.rule_exact(rule, dir, pod, remote, tk)
                {
                    return DirectionDecision {
                        decision: FastDecision::K8sAllow(RuleId(r)),
                        passed,
                    };
                }
            }
            if id.isolated[dir] {
                return DirectionDecision {
                    decision: FastDecision::K8sIsolation,
                    passed,
                };
            }
        }
        if let Some(rank) = scan(di.stage1, di.order.len()) {
            let rule = di.order.get(rank).copied().unwrap_or(NONE);
            return DirectionDecision {
                decision: FastDecision::Rule(RuleId(rule)),
                passed,
            };
        }
        DirectionDecision {
            decision: FastDecision::Default,
            passed,
        }
    }
}
