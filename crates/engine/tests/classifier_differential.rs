//! Property: on random small clusters with random policies (ACNP, ANNP and Kubernetes
//! NetworkPolicies; random selectors, ipBlocks with except, port ranges, named and source ports,
//! ICMP, actions including Pass, tiers including baseline, groups, Node and FQDN peers), the
//! fast `Classifier` decides every endpoint pair exactly as the oracle `Evaluator` does, with
//! the same deciding rule in each direction, and computes the same policy spans.

mod classifier_common;

use classifier_common::*;
use proptest::prelude::*;
use tierwall_engine::Engine;
use tierwall_engine::classifier::Classifier;

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(160), .. ProptestConfig::default() })]

    #[test]
    fn classifier_agrees_with_oracle(cluster in cluster_spec(), policies in prop::collection::vec(policy_spec(), 1..9)) {
        let mut engine = Engine::new();
        for o in base_objects(&cluster) {
            apply(&mut engine, None, o);
        }
        for p in &policies {
            apply(&mut engine, None, policy_object(p));
        }
        let cl = Classifier::build(engine.cluster(), engine.table());
        let covered = compare(&engine, &cl).map_err(TestCaseError::fail)?;
        prop_assert!(covered > 0);
        compare_spans(&engine, &cl).map_err(TestCaseError::fail)?;
    }
}
