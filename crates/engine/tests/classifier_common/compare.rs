//! The comparison of `Classifier::decide` with the oracle `Evaluator` over every pair of
//! endpoints and every probed transport, of policy spans, and the apply/delete steps that keep
//! engine and classifier in step.

use std::net::IpAddr;
use tierwall_engine::classifier::{
    Classifier, DirectionDecision, Endpoint, FastDecision, NotCovered, PodId,
};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::compile::Direction;
use tierwall_engine::evaluate::{Decision, DirectionVerdict};
use tierwall_engine::{Engine, ProbeTransport, Source, Target};
use tierwall_model::{Object, ObjectKey};

pub fn transports() -> Vec<ProbeTransport> {
    vec![
        ProbeTransport::L4 {
            protocol: L4Protocol::Tcp,
            port: 80,
            src_port: 40000,
        },
        ProbeTransport::L4 {
            protocol: L4Protocol::Tcp,
            port: 81,
            src_port: 1500,
        },
        ProbeTransport::L4 {
            protocol: L4Protocol::Udp,
            port: 53,
            src_port: 40000,
        },
        ProbeTransport::L4 {
            protocol: L4Protocol::Udp,
            port: 55,
            src_port: 40000,
        },
        ProbeTransport::L4 {
            protocol: L4Protocol::Sctp,
            port: 80,
            src_port: 40000,
        },
        ProbeTransport::L4 {
            protocol: L4Protocol::Tcp,
            port: 30080,
            src_port: 40000,
        },
        ProbeTransport::Icmp {
            icmp_type: 8,
            icmp_code: 0,
        },
        ProbeTransport::Icmp {
            icmp_type: 0,
            icmp_code: 0,
        },
    ]
}

/// Endpoints compared: every Pod by name, plus addresses (Nodes, a Pod address, outside
/// addresses, the Service ClusterIP).
fn endpoints(engine: &Engine, cl: &Classifier) -> Vec<(Source, Target, Option<Endpoint>)> {
    let mut out = Vec::new();
    for ((ns, name), _) in engine.cluster().pods.iter() {
        let id = cl.pod_id(ns, name).map(Endpoint::Pod);
        out.push((
            Source::Pod {
                namespace: ns.clone(),
                name: name.clone(),
            },
            Target::Pod {
                namespace: ns.clone(),
                name: name.clone(),
            },
            id,
        ));
    }
    for ip in [
        "172.18.0.2",
        "172.18.0.3",
        "10.1.1.11",
        "10.1.0.10",
        "192.0.2.7",
        "8.8.8.8",
        "10.96.0.10",
        "10.1.2.200",
    ] {
        let ip: IpAddr = ip.parse().expect("test address");
        out.push((Source::Ip(ip), Target::Ip(ip), Some(Endpoint::Ip(ip))));
    }
    out
}

fn pod_of(cl: &Classifier, enforced_for: &Option<String>) -> Option<PodId> {
    let s = enforced_for.as_deref()?;
    let (ns, name) = s.split_once('/')?;
    cl.pod_id(ns, name)
}

fn direction_matches(
    cl: &Classifier,
    f: &DirectionDecision,
    o: &DirectionVerdict,
    dir: Direction,
) -> Result<(), String> {
    let passed = f.passed.and_then(|r| cl.rule_hit(r)).cloned();
    if passed.as_ref() != o.passed.first() || o.passed.len() > 1 {
        return Err(format!("passed: fast {passed:?} oracle {:?}", o.passed));
    }
    let ok = match (&f.decision, &o.decision) {
        (FastDecision::NotEnforced, Decision::NotEnforced { .. }) => true,
        (FastDecision::Default, Decision::Default) => true,
        (FastDecision::Rule(r), Decision::Rule(h))
        | (FastDecision::K8sAllow(r), Decision::K8sAllow(h)) => cl.rule_hit(*r) == Some(h),
        (FastDecision::K8sIsolation, Decision::K8sIsolation { policies }) => {
            pod_of(cl, &o.enforced_for).is_some_and(|p| cl.isolating_policies(p, dir) == *policies)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        let f_hit = match f.decision {
            FastDecision::Rule(r) | FastDecision::K8sAllow(r) => cl.rule_hit(r).cloned(),
            _ => None,
        };
        Err(format!(
            "decision: fast {:?} {f_hit:?} oracle {:?}",
            f.decision, o.decision
        ))
    }
}

/// Compares the classifier with the oracle on every endpoint pair and transport. Returns the
/// number of flows decided on the fast path.
pub fn compare(engine: &Engine, cl: &Classifier) -> Result<usize, String> {
    let eps = endpoints(engine, cl);
    let mut covered = 0;
    for (src, _, fs) in &eps {
        for (_, dst, fd) in &eps {
            for t in transports() {
                let oracle = engine.probe(src, dst, t);
                let (Some(fs), Some(fd)) = (fs, fd) else {
                    continue;
                };
                match cl.decide(*fs, *fd, t) {
                    // Service addresses and NodePorts are left to the oracle by design.
                    Err(NotCovered::ServiceAddress(_) | NotCovered::NodePort(..)) => {}
                    Err(e) => {
                        if oracle.service.is_none() && oracle.unresolved.is_none() {
                            return Err(format!(
                                "{src:?} -> {dst:?} {t:?}: fast path refused ({e}) a flow the oracle decided without DNAT: {oracle:?}"
                            ));
                        }
                    }
                    Ok(v) => {
                        if oracle.service.is_some() || oracle.unresolved.is_some() {
                            return Err(format!(
                                "{src:?} -> {dst:?} {t:?}: fast path decided a DNAT/unresolved flow: {oracle:?}"
                            ));
                        }
                        covered += 1;
                        let ctx = |what: String| {
                            format!("{src:?} -> {dst:?} {t:?}: {what}\noracle: {oracle:#?}")
                        };
                        if v.outcome != oracle.outcome {
                            return Err(ctx(format!(
                                "outcome fast {:?} oracle {:?} (fast {v:?})",
                                v.outcome, oracle.outcome
                            )));
                        }
                        direction_matches(cl, &v.egress, &oracle.egress, Direction::Egress)
                            .map_err(|e| ctx(format!("egress {e}")))?;
                        direction_matches(cl, &v.ingress, &oracle.ingress, Direction::Ingress)
                            .map_err(|e| ctx(format!("ingress {e}")))?;
                    }
                }
            }
        }
    }
    Ok(covered)
}

/// Spans of every policy: classifier vs `status::policy_span`.
pub fn compare_spans(engine: &Engine, cl: &Classifier) -> Result<(), String> {
    for p in engine.table().policies() {
        let want: Vec<String> = tierwall_engine::status::policy_span(engine.cluster(), p)
            .into_iter()
            .collect();
        let got = cl
            .policy_span(&p.key)
            .ok_or_else(|| format!("no span for {:?}", p.key))?;
        if want != got {
            return Err(format!("span of {:?}: fast {got:?} oracle {want:?}", p.key));
        }
    }
    Ok(())
}

/// Applies an object; rejections by admission are fine (they change nothing).
pub fn apply(engine: &mut Engine, cl: Option<&mut Classifier>, o: Object) -> bool {
    let key = o.key();
    match engine.apply(o) {
        Ok(_) => {
            if let Some(cl) = cl {
                cl.update(engine.cluster(), engine.table(), &key);
            }
            true
        }
        Err(_) => false,
    }
}

pub fn delete(engine: &mut Engine, cl: Option<&mut Classifier>, key: &ObjectKey) -> bool {
    if !engine.store().contains(key) {
        return false;
    }
    match engine.delete(key) {
        Ok(_) => {
            if let Some(cl) = cl {
                cl.update(engine.cluster(), engine.table(), key);
            }
            true
        }
        Err(_) => false,
    }
}
