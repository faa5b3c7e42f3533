//! `tierwall validate`: loads and admits every input together, in dependency order, as
//! `kubectl apply` of all of them would; prints each problem on one line
//! (`<file>:<line>:<column>: <Kind ns/name>: <field>: <message>`), each admission warning as
//! `warning: ...`, then `N objects valid, M invalid`. Exit 1 when anything is invalid.

use crate::input::{self, ClusterChoice};
use std::io::Write;
use std::path::PathBuf;

/// Validates the inputs; returns the exit code.
pub fn run(
    files: &[PathBuf],
    cluster: Option<ClusterChoice>,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let loaded = input::load(files)?;
    let total = loaded.total();
    // Validation is about the files: the standard cluster is only used when asked for.
    let standard = cluster == Some(ClusterChoice::Standard);
    let admission = input::admit(loaded, standard)?;
    for p in &admission.problems {
        writeln!(out, "{p}")?;
    }
    for w in &admission.warnings {
        writeln!(out, "warning: {w}")?;
    }
    if total == 0 {
        writeln!(out, "warning: no objects found in the inputs")?;
    }
    let invalid = admission.problems.len();
    writeln!(out, "{} objects valid, {invalid} invalid", admission.valid)?;
    Ok(u8::from(invalid > 0))
}
