//! Property: on random small clusters with random policies (ACNP, ANNP and Kubernetes
//! NetworkPolicies; random selectors, ipBlocks with except, port ranges, named and source ports,
//! ICMP, actions including Pass, tiers including baseline, groups, Node and FQDN peers), the
//! fast `Classifier` decides every endpoint pair exactly as the oracle `Evaluator` does, with
//! the same deciding rule in each direction, and computes the same policy spans. The second
//! property adds filler policies (wide rules that never match a probed flow) so that the real
//! rules' ranks spread over many words, chunks and summary blocks of dense rows.

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

proptest! {
    // Fewer cases: every case is a much larger table for the oracle.
    #![proptest_config(ProptestConfig { cases: cases(64), .. ProptestConfig::default() })]

    #[test]
    fn classifier_agrees_with_oracle_on_wide_rows(
        cluster in cluster_spec(),
        policies in prop::collection::vec(policy_spec(), 1..9),
        fillers in prop::collection::vec(filler_spec(), 1..30),
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
        for p in &policies {
            apply(&mut engine, None, policy_object(p));
        }
        let cl = Classifier::build(engine.cluster(), engine.table());
        let covered = compare(&engine, &cl).map_err(TestCaseError::fail)?;
        prop_assert!(covered > 0);
    }
}
