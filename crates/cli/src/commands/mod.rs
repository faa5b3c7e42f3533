//! One module per subcommand.

pub mod get;
pub mod matrix;
pub mod scenario;
pub mod testbed;
pub mod trace;
pub mod validate;
