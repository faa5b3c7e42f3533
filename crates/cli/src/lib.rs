//! The `tierwall` command line: one binary with a subcommand per job, following kubectl's
//! conventions (`-f`, `-o table|wide|yaml|json`, short names `acnp annp tr cg grp netpol`).

pub mod commands;

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Tiered network policy for Kubernetes: Antrea-native policies, enforced and explained.
#[derive(Debug, Parser)]
#[command(name = "tierwall", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Conformance scenarios (the format of ../shared/scenarios/FORMAT.md).
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Run scenario files or directories; prints one line per file and a summary.
    Run {
        /// Files or directories (searched recursively for *.yaml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print every mismatch of failing files (default: at most 20 per file).
        #[arg(long)]
        verbose: bool,
    },
}

/// Runs the CLI with the given arguments and returns the process exit code.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Scenario { command: ScenarioCommand::Run { paths, verbose } } => {
            commands::scenario::run(&paths, verbose)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
