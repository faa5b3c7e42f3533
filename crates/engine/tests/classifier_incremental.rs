//! Property: after any random sequence of single changes — Pods added, deleted, relabelled or
//! moved; Namespaces and Nodes relabelled; the Service changed; policies (ACNP, ANNP, K8s NP),
//! Groups and Tiers created, updated or deleted; DNS answers changed — the classifier updated
//! incrementally after each change decides every endpoint pair exactly as the oracle
//! `Evaluator` does (checked after every step), and at the end exactly as a classifier built
//! from scratch from the final state.

mod classifier_common;

use classifier_common::*;
use proptest::prelude::*;
use std::net::IpAddr;
use tierwall_engine::Engine;
use tierwall_engine::classifier::Classifier;
use tierwall_model::{Kind, ObjectKey};

#[derive(Debug, Clone)]
enum Change {
    PodLabel {
        ns: usize,
        p: usize,
        app: u8,
        sa: bool,
        alt: bool,
    },
    PodDelete {
        ns: usize,
        p: usize,
    },
    PodHost {
        host: bool,
    },
    NamespaceLabel {
        ns: usize,
        env: u8,
    },
    NamespaceDelete {
        ns: usize,
    },
    NodeLabel {
        i: usize,
        zone: bool,
    },
    NodeDelete {
        i: usize,
    },
    Service {
        app: u8,
        node_port: bool,
    },
    ServiceDelete,
    Policy(PolicySpec),
    DeletePolicy {
        kind: u8,
        name: u8,
        ns: u8,
    },
    Group {
        which: u8,
        choice: u8,
    },
    DeleteGroup {
        which: u8,
    },
    Tier {
        create: bool,
    },
    Dns {
        which: u8,
    },
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        4 => (0..3usize, 0..3usize, 0..3u8, any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(ns, p, app, sa, alt)| Change::PodLabel { ns, p, app, sa, alt }),
        2 => (0..3usize, 0..3usize).prop_map(|(ns, p)| Change::PodDelete { ns, p }),
        1 => any::<bool>().prop_map(|host| Change::PodHost { host }),
        2 => (0..3usize, 0..3u8).prop_map(|(ns, env)| Change::NamespaceLabel { ns, env }),
        1 => (0..3usize).prop_map(|ns| Change::NamespaceDelete { ns }),
        1 => (0..2usize, any::<bool>()).prop_map(|(i, zone)| Change::NodeLabel { i, zone }),
        1 => (0..2usize).prop_map(|i| Change::NodeDelete { i }),
        1 => (0..3u8, any::<bool>()).prop_map(|(app, node_port)| Change::Service { app, node_port }),
        1 => Just(Change::ServiceDelete),
        6 => policy_spec().prop_map(Change::Policy),
        2 => (0..3u8, 0..6u8, 0..3u8).prop_map(|(kind, name, ns)| Change::DeletePolicy { kind, name, ns }),
        2 => (0..3u8, any::<u8>()).prop_map(|(which, choice)| Change::Group { which, choice }),
        1 => (0..3u8).prop_map(|which| Change::DeleteGroup { which }),
        1 => any::<bool>().prop_map(|create| Change::Tier { create }),
        1 => (0..3u8).prop_map(|which| Change::Dns { which }),
    ]
}

fn apply_change(engine: &mut Engine, cl: &mut Classifier, c: &Change) {
    let cl = Some(cl);
    match c {
        Change::PodLabel {
            ns,
            p,
            app,
            sa,
            alt,
        } => {
            apply(
                engine,
                cl,
                pod(
                    *ns,
                    *p,
                    APPS[*app as usize],
                    if *sa { "sa1" } else { "default" },
                    *alt,
                    false,
                ),
            );
        }
        Change::PodDelete { ns, p } => {
            delete(
                engine,
                cl,
                &ObjectKey::namespaced(Kind::Pod, NAMESPACES[*ns], PODS[*p]),
            );
        }
        Change::PodHost { host } => {
            apply(engine, cl, pod(2, 2, "web", "default", false, *host));
        }
        Change::NamespaceLabel { ns, env } => {
            apply(
                engine,
                cl,
                namespace(
                    NAMESPACES[*ns],
                    env_name(*env),
                    if *ns < 2 { "o1" } else { "o2" },
                ),
            );
        }
        Change::NamespaceDelete { ns } => {
            delete(
                engine,
                cl,
                &ObjectKey::cluster(Kind::Namespace, NAMESPACES[*ns]),
            );
        }
        Change::NodeLabel { i, zone } => {
            apply(engine, cl, node(*i, if *zone { "a" } else { "b" }));
        }
        Change::NodeDelete { i } => {
            delete(
                engine,
                cl,
                &ObjectKey::cluster(Kind::Node, &format!("node-{i}")),
            );
        }
        Change::Service { app, node_port } => {
            apply(engine, cl, service(APPS[*app as usize], *node_port));
        }
        Change::ServiceDelete => {
            delete(
                engine,
                cl,
                &ObjectKey::namespaced(Kind::Service, "x", "svc"),
            );
        }
        Change::Policy(p) => {
            apply(engine, cl, policy_object(p));
        }
        Change::DeletePolicy { kind, name, ns } => {
            let ns = NAMESPACES[*ns as usize % 3];
            let key = match kind % 3 {
                0 => ObjectKey::cluster(Kind::ClusterNetworkPolicy, &format!("p{name}")),
                1 => {
                    ObjectKey::namespaced(Kind::AntreaNetworkPolicy, ns, &format!("a{}", name % 3))
                }
                _ => ObjectKey::namespaced(Kind::NetworkPolicy, ns, &format!("k{}", name % 3)),
            };
            delete(engine, cl, &key);
        }
        Change::Group { which, choice } => {
            let o = match which % 3 {
                0 => group_object(*choice),
                1 => group2_object(*choice),
                _ => group_x_object(*choice),
            };
            apply(engine, cl, o);
        }
        Change::DeleteGroup { which } => {
            let key = match which % 3 {
                0 => ObjectKey::cluster(Kind::ClusterGroup, "g1"),
                1 => ObjectKey::cluster(Kind::ClusterGroup, "g2"),
                _ => ObjectKey::namespaced(Kind::Group, "x", "gx"),
            };
            delete(engine, cl, &key);
        }
        Change::Tier { create } => {
            if *create {
                apply(engine, cl, tier_custom());
            } else {
                delete(engine, cl, &ObjectKey::cluster(Kind::Tier, "custom"));
            }
        }
        Change::Dns { which } => {
            let ips: Vec<IpAddr> = match which {
                0 => vec![],
                1 => vec!["192.0.2.7".parse().expect("ip")],
                _ => vec![
                    "10.1.1.11".parse().expect("ip"),
                    "8.8.8.8".parse().expect("ip"),
                ],
            };
            engine.set_dns("www.example.com", ips);
            if let Some(cl) = cl {
                cl.apply_dns(engine.cluster());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), .. ProptestConfig::default() })]

    #[test]
    fn incremental_classifier_agrees(
        cluster in cluster_spec(),
        initial in prop::collection::vec(policy_spec(), 0..5),
        changes in prop::collection::vec(change(), 1..25),
    ) {
        let mut engine = Engine::new();
        for o in base_objects(&cluster) {
            apply(&mut engine, None, o);
        }
        for p in &initial {
            apply(&mut engine, None, policy_object(p));
        }
        let mut cl = Classifier::build(engine.cluster(), engine.table());
        compare(&engine, &cl).map_err(TestCaseError::fail)?;
        for (step, c) in changes.iter().enumerate() {
            apply_change(&mut engine, &mut cl, c);
            compare(&engine, &cl).map_err(|e| TestCaseError::fail(format!("after step {step} {c:?}: {e}")))?;
            compare_spans(&engine, &cl).map_err(|e| TestCaseError::fail(format!("after step {step} {c:?}: {e}")))?;
        }
        let fresh = Classifier::build(engine.cluster(), engine.table());
        compare(&engine, &fresh).map_err(|e| TestCaseError::fail(format!("fresh build: {e}")))?;
        prop_assert_eq!(cl.stats().antrea_rules, fresh.stats().antrea_rules);
        prop_assert_eq!(cl.stats().identities, fresh.stats().identities);
        prop_assert_eq!(cl.stats().terms, fresh.stats().terms);
        prop_assert_eq!(cl.total_span(), fresh.total_span());
    }

}

proptest! {
    // Fewer cases: every case is a much larger table for the oracle.
    #![proptest_config(ProptestConfig { cases: cases(16), .. ProptestConfig::default() })]

    /// The same over wide rows: filler policies (never matching a probed flow) first, so that
    /// every change renumbers and rewrites dense rows of many words.
    #[test]
    fn incremental_classifier_agrees_on_wide_rows(
        cluster in cluster_spec(),
        fillers in prop::collection::vec(filler_spec(), 1..30),
        initial in prop::collection::vec(policy_spec(), 0..5),
        changes in prop::collection::vec(change(), 1..12),
    ) {
        let mut engine = Engine::new();
        for o in base_objects(&cluster) {
            apply(&mut engine, None, o);
        }
        let admitted = fillers
            .iter()
            .enumerate()
            .filter(|(i, f)| apply(&mut engine, None, filler_object(*i, f)))
            .count();
        prop_assert_eq!(admitted, fillers.len(), "every filler policy is admitted");
        for p in &initial {
            apply(&mut engine, None, policy_object(p));
        }
        let mut cl = Classifier::build(engine.cluster(), engine.table());
        for (step, c) in changes.iter().enumerate() {
            apply_change(&mut engine, &mut cl, c);
            compare(&engine, &cl).map_err(|e| TestCaseError::fail(format!("after step {step} {c:?}: {e}")))?;
        }
        let fresh = Classifier::build(engine.cluster(), engine.table());
        compare(&engine, &fresh).map_err(|e| TestCaseError::fail(format!("fresh build: {e}")))?;
    }
}
