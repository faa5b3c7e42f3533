//! One module per subcommand.

pub mod scenario;
