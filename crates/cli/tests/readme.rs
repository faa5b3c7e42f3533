//! The README, checked as a new user would follow it in a fresh clone: it does not depend on
//! anything outside the repository (`../shared`), says how to run the root commands without a
//! bare `sudo` (which resets PATH) and where the binary comes from, and its `tierwall` commands
//! run as written from the repository root: every engine-only command here, and (root) the
//! testbed commands, with the probes printing the outcome their comment gives. Testbeds are
//! removed even on failure ([`Guard`]).

mod common;

use common::{Guard, is_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap_or_else(|e| panic!("{e}"))
}

/// The lines of the README's ```sh blocks.
fn sh_lines(text: &str) -> Vec<&str> {
    let mut inside = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            inside = line == "```sh";
        } else if inside {
            lines.push(line);
        }
    }
    lines
}

/// A `tierwall` command line of the README: its arguments and its comment.
fn command(line: &str) -> Option<(Vec<String>, String)> {
    let rest = line.strip_prefix("tierwall ")?;
    let (args, comment) = rest.split_once('#').unwrap_or((rest, ""));
    Some((
        args.split_whitespace().map(str::to_string).collect(),
        comment.trim().to_string(),
    ))
}

/// Runs the built `tierwall` with `args` from the repository root: exit status, stdout, stderr.
fn run(args: &[String]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run tierwall: {e}"));
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_readme_stands_on_its_own_and_says_how_to_run_as_root() {
    let text = readme();
    assert!(
        !text.contains("../shared"),
        "the README points outside the repository"
    );
    for line in sh_lines(&text) {
        assert!(
            !line.trim_start().starts_with("sudo "),
            "a bare sudo resets PATH: {line}"
        );
    }
    for needed in [
        "cargo install --path crates/cli",
        "sudo \"$(command -v tierwall)\"",
        "docs/scenarios.md",
        "tierwall testbed probe",
    ] {
        assert!(text.contains(needed), "the README does not say {needed:?}");
    }
    assert!(repo().join("docs/scenarios.md").exists());
}

#[test]
fn the_readmes_engine_commands_run_as_written() {
    let text = readme();
    let mut ran = 0;
    for line in sh_lines(&text) {
        let Some((args, comment)) = command(line) else {
            continue;
        };
        let offline = match args.first().map(String::as_str) {
            Some("validate" | "trace" | "matrix") => true,
            Some("get") => args.get(1).is_some_and(|r| r != "stats"),
            Some("scenario") => !args.iter().any(|a| a == "--dataplane"),
            _ => false,
        };
        if !offline || comment.starts_with("root") {
            continue;
        }
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(0), "tierwall {}: {out}{err}", args.join(" "));
        ran += 1;
    }
    assert!(ran >= 6, "only {ran} engine commands found in the README");
}

#[test]
fn the_readmes_testbed_commands_run_as_written() {
    if !is_root() {
        eprintln!("SKIPPED the_readmes_testbed_commands_run_as_written: needs root");
        return;
    }
    let started = |tool: &str| Command::new(tool).arg("-V").output().is_ok();
    if !started("nft") || !started("ip") {
        eprintln!("SKIPPED the_readmes_testbed_commands_run_as_written: needs nft and ip");
        return;
    }
    // The README's prefixes `demo` and `st`, made unique to this test run.
    let id = std::process::id() % 100_000;
    let names = [
        ("demo".to_string(), format!("twrd{id}")),
        ("st".to_string(), format!("twrs{id}")),
    ];
    let _guards: Vec<Guard> = names.iter().map(|(_, p)| Guard(p.clone())).collect();
    let mut ran = 0;
    for line in sh_lines(&readme()) {
        let Some((args, comment)) = command(line) else {
            continue;
        };
        let testbed = match args.first().map(String::as_str) {
            Some("testbed" | "apply" | "delete") => true,
            Some("get") => args.get(1).is_some_and(|r| r == "stats"),
            Some("metrics") => args.iter().any(|a| a == "--once"),
            _ => false,
        };
        if !testbed {
            continue;
        }
        let args: Vec<String> = args
            .into_iter()
            .map(|a| {
                names
                    .iter()
                    .find(|(readme, _)| *readme == a)
                    .map_or(a, |(_, unique)| unique.clone())
            })
            .collect();
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(0), "tierwall {}: {out}{err}", args.join(" "));
        if args.get(1).is_some_and(|a| a == "probe") {
            let want = ["Connected", "Dropped", "Rejected"]
                .into_iter()
                .find(|w| comment.contains(w))
                .unwrap_or_else(|| panic!("no outcome in the comment of {line:?}"));
            assert_eq!(out.trim(), want, "{line}: {err}");
        }
        if args.first().is_some_and(|a| a == "get") {
            assert!(out.contains("reject-8080"), "{out}");
        }
        ran += 1;
    }
    assert!(ran >= 12, "only {ran} testbed commands found in the README");
}
