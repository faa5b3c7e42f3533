//! Shared by the classifier property tests: random small clusters and policies as JSON
//! objects, and the comparison of `Classifier::decide` with the oracle `Evaluator` over every
//! pair of endpoints (Pods, Node addresses, Pod addresses, outside addresses, a ClusterIP).

#![allow(dead_code)]

mod compare;
mod generate;

pub use compare::*;
pub use generate::*;
