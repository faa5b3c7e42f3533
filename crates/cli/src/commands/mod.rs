//! One module per subcommand.

pub mod apply;
pub mod get;
pub mod matrix;
pub mod metrics;
pub mod scenario;
pub mod stats;
pub mod testbed;
pub mod trace;
pub mod validate;
