//! Running things: `ip` (always `ip -n <ns>` or `ip netns ...`), `nft` and the probe helper through
//! `ip netns exec`, finding and killing the processes inside our namespaces. Nothing here runs
//! in, or changes, the host's own network namespace.

use crate::error::TestbedError;
use crate::options::ProbeHelperCommand;
use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Where `ip netns` keeps its namespaces.
pub const NETNS_DIR: &str = "/run/netns";

pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let text = parts.join(" ");
    if text.len() > 300 {
        format!("{}...", &text[..text.floor_char_boundary(300)])
    } else {
        text
    }
}

/// A command to be run, with optional standard input.
pub struct Job {
    pub command: Command,
    pub stdin: Option<Vec<u8>>,
}

impl Job {
    pub fn new(command: Command) -> Self {
        Job {
            command,
            stdin: None,
        }
    }

    pub fn with_stdin(command: Command, stdin: impl Into<Vec<u8>>) -> Self {
        Job {
            command,
            stdin: Some(stdin.into()),
        }
    }
}

fn spawn(job: &mut Job) -> Result<Child, TestbedError> {
    job.command
        .stdin(if job.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = job.command.spawn().map_err(|e| TestbedError::Command {
        command: describe(&job.command),
        message: format!("cannot start: {e}"),
    })?;
    if let Some(input) = job.stdin.take()
        && let Some(mut pipe) = child.stdin.take()
    {
        // A child that exits early closes the pipe; its exit status tells what went wrong.
        let _ = pipe.write_all(&input);
    }
    Ok(child)
}

fn finish(command: &Command, output: std::io::Result<Output>) -> Result<String, TestbedError> {
    let output = output.map_err(|e| TestbedError::Command {
        command: describe(command),
        message: e.to_string(),
    })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(TestbedError::Command {
            command: describe(command),
            message: format!("{}: {}", output.status, stderr.trim()),
        })
    }
}

/// Runs one job to completion; its stdout on success.
pub fn run(mut job: Job) -> Result<String, TestbedError> {
    let child = spawn(&mut job)?;
    finish(&job.command, child.wait_with_output())
}

/// Runs jobs concurrently; their stdouts in order, or the first error (all jobs are waited for).
pub fn run_all(jobs: Vec<Job>) -> Result<Vec<String>, TestbedError> {
    let mut running = Vec::new();
    let mut first_error = None;
    for mut job in jobs {
        match spawn(&mut job) {
            Ok(child) => running.push((job, child)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let mut out = Vec::new();
    for (job, child) in running {
        match finish(&job.command, child.wait_with_output()) {
            Ok(s) => out.push(s),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `ip <args>` (host context: only `ip netns ...` is ever run this way).
pub fn ip(args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(args);
    c
}

/// `ip -n <netns> -batch -` fed with `lines`.
pub fn ip_batch(netns: &str, lines: &[String]) -> Job {
    let mut c = Command::new("ip");
    c.args(["-n", netns, "-batch", "-"]);
    let mut text = lines.join("\n");
    text.push('\n');
    Job::with_stdin(c, text)
}

/// `ip netns exec <netns> <program> <args>`.
pub fn in_netns<S: Into<OsString> + Clone>(netns: &str, program: S, args: &[S]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", netns]);
    c.arg(program.into());
    c.args(args.iter().cloned().map(Into::into));
    c
}

/// `ip netns exec <netns> <probe helper> <subcommand> <args>`.
pub fn probe_helper(
    netns: &str,
    helper: &ProbeHelperCommand,
    subcommand: &str,
    args: &[String],
) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", netns]);
    c.arg(helper.program());
    c.args(&helper.args);
    c.arg(subcommand);
    c.args(args);
    c
}

/// Names of all namespaces known to `ip netns`.
pub fn netns_list() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    out
}

/// Inode of a named netns (what `/proc/<pid>/ns/net` links to).
pub fn netns_inode(name: &str) -> Option<u64> {
    std::fs::metadata(netns_path(name)).ok().map(|m| m.ino())
}

/// PIDs of the processes whose network namespace is one of `inodes` (never our own).
pub fn pids_in(inodes: &HashSet<u64>) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .ok()
                .and_then(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("net:[")?
                        .strip_suffix(']')?
                        .parse::<u64>()
                        .ok()
                })
                .is_some_and(|ino| inodes.contains(&ino))
        })
        .collect()
}

/// SIGKILL by PID (errors such as "already gone" are ignored).
pub fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Whether `program` can be found on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}
