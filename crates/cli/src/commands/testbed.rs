//! `tierwall testbed up|down|list`: a cluster of network namespaces that outlives the command,
//! and the hidden `testbed probe-helper` entry point the testbed runs inside its namespaces.

use crate::TestbedCommand;
use crate::input::{InputArgs, build_engine};
use anyhow::Context;
use std::io::Write;
use tierwall_testbed::{ProbeHelperCommand, Testbed, TestbedOptions};

/// The probe helper of this binary: `tierwall testbed probe-helper ...`.
pub fn probe_helper_command() -> anyhow::Result<ProbeHelperCommand> {
    let program = std::env::current_exe().context("locating the tierwall executable")?;
    Ok(ProbeHelperCommand {
        program,
        args: vec!["testbed".into(), "probe-helper".into()],
    })
}

pub fn run(
    command: TestbedCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    match command {
        TestbedCommand::Up { input, prefix } => up(&input, prefix, out, err),
        TestbedCommand::Down { prefix, all } => {
            if all {
                let removed = tierwall_testbed::down_all().context("removing testbeds")?;
                writeln!(
                    out,
                    "removed {} testbed(s){}",
                    removed.len(),
                    if removed.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", removed.join(", "))
                    }
                )?;
            } else {
                let prefix = prefix
                    .context("give the testbed prefix (see `tierwall testbed list`) or --all")?;
                tierwall_testbed::down_by_prefix(&prefix)
                    .with_context(|| format!("removing testbed {prefix}"))?;
                writeln!(out, "removed testbed {prefix}")?;
            }
            Ok(0)
        }
        TestbedCommand::List => {
            for p in tierwall_testbed::list().context("listing testbeds")? {
                writeln!(out, "{p}")?;
            }
            Ok(0)
        }
        TestbedCommand::ProbeHelper { args } => {
            let code = tierwall_testbed::probe_helper::main(&args);
            Ok(if code == std::process::ExitCode::SUCCESS {
                0
            } else {
                1
            })
        }
    }
}

fn up(
    input: &InputArgs,
    prefix: Option<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let engine = build_engine(input, err)?;
    let options = TestbedOptions {
        prefix,
        probe_helper: Some(probe_helper_command()?),
        ..TestbedOptions::default()
    };
    let testbed = Testbed::up(engine.cluster(), options)
        .context("building the testbed (needs root, ip and nft)")?;
    for note in testbed.notes() {
        writeln!(err, "note: {note}")?;
    }
    // The desired state stays with the testbed (for `apply`, `delete`, `get stats`, `metrics`)
    // and the Nodes enforce it. A failure here drops (tears down) the testbed.
    tierwall_live::persisted::save(testbed.prefix(), &engine)
        .context("storing the testbed's objects")?;
    tierwall_live::persisted::enforce(&testbed, &engine, false)
        .context("programming the testbed's Nodes")?;
    let prefix = testbed.detach();
    writeln!(out, "{prefix}")?;
    writeln!(
        err,
        "testbed {prefix} is up; `tierwall testbed down {prefix}` removes it"
    )?;
    Ok(0)
}
