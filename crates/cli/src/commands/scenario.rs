//! `tierwall scenario run`: one line per file (`PASS`, `FAIL` with the mismatches and the rule
//! that decided each, `SKIP` with the reason), then `N passed, M failed, K skipped`. With
//! `--dataplane` every file runs on a testbed with real packets (`tierwall_lab`).

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use tierwall_scenario::{FileResult, Summary, collect_files, run_file};

/// Mismatch lines shown per failing file unless `--verbose`.
const MISMATCHES_SHOWN: usize = 20;

pub fn run(
    paths: &[PathBuf],
    verbose: bool,
    dataplane: bool,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let files = collect_files(paths).context("collecting scenario files")?;
    let mut summary = Summary::default();
    let probe_helper = if dataplane {
        Some(super::testbed::probe_helper_command()?)
    } else {
        None
    };
    let has_sctp = dataplane && tierwall_testbed::probe_helper::sctp_supported();
    for path in files {
        let report = match &probe_helper {
            Some(probe_helper) => tierwall_lab::scenario_dataplane::run_file_dataplane(
                &path,
                has_sctp,
                Some(probe_helper.clone()),
            ),
            None => run_file(&path),
        };
        summary.add(&report.result);
        match &report.result {
            FileResult::Passed => writeln!(out, "PASS {}", path.display())?,
            FileResult::Skipped(why) => writeln!(out, "SKIP {}: {why}", path.display())?,
            FileResult::Failed(lines) => {
                writeln!(out, "FAIL {} ({} mismatches)", path.display(), lines.len())?;
                let shown = if verbose {
                    lines.len()
                } else {
                    MISMATCHES_SHOWN.min(lines.len())
                };
                for l in &lines[..shown] {
                    writeln!(out, "    {l}")?;
                }
                if shown < lines.len() {
                    writeln!(out, "    ... {} more (use --verbose)", lines.len() - shown)?;
                }
            }
        }
    }
    writeln!(out, "{summary}")?;
    Ok(u8::from(summary.failed > 0))
}
