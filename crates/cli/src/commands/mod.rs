//! One module per subcommand.

pub mod adapter;
pub mod agent;
pub mod apply;
pub mod controller;
pub mod get;
pub mod matrix;
pub mod metrics;
pub mod nsx;
pub mod scenario;
pub mod stats;
pub mod testbed;
pub mod through_controller;
pub mod trace;
pub mod validate;
