//! tierwall conformance scenarios: the scenario file format (v1, `docs/scenarios.md`),
//! the standard cluster, the probe-line notation, and the engine-mode runner.

pub mod backend;
pub mod cluster;
pub mod format;
pub mod probe_line;
pub mod runner;

pub use runner::{FileReport, FileResult, Summary, collect_files, run_file};
