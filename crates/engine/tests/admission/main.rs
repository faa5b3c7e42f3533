//! Table-driven admission tests through the public API, one file per reference section: every
//! row's message with an accepted and a rejected case where the row is reachable, the mutation,
//! Tier, group, Kubernetes NetworkPolicy and core-object rules, and a no-panic property test.
//! (The one check admission cannot reach, of a private function, is in
//! `src/admission/tests.rs`.)

mod api;
mod groups;
mod k8s_network_policy;
mod mutation;
mod objects;
mod openapi;
mod policy_cases;
mod policy_rows;
mod robustness;
mod support;
mod tiers;
