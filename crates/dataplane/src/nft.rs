//! Running `nft` inside a network namespace: `apply` (one `nft -j -f -` transaction, with or
//! without echo of the rule handles), table, chain-handle and counter listings, table removal.
//!
//! ```text
//!  NetnsTarget::Current      nft …                    (the agent runs inside the Node netns)
//!  NetnsTarget::Named(n)     ip netns exec n nft …    (/run/netns/n, as `ip netns add` makes)
//!  NetnsTarget::Path(p)      nsenter --net=p nft …    (e.g. /proc/<pid>/ns/net)
//! ```
//!
//! The namespace is entered by a child process, never by this process: no `setns` on a
//! thread of ours, no `unsafe`. Each run has a timeout after which the child is killed.

use crate::error::{Error, hint_for, spawn_hint};
use crate::names::{FAMILY, TABLE};
use crate::netns::NetnsTarget;
use crate::transaction::{Document, remove_document};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one nft run may take.
pub const NFT_TIMEOUT: Duration = Duration::from_secs(30);

/// Statistics of one named counter. Only the first packet of each connection reaches a
/// policy rule (established traffic is accepted before), so `packets` counts connections
/// (sessions) and `bytes` the bytes of their first packets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterStats {
    pub packets: u64,
    pub bytes: u64,
}

/// Output of a finished run.
struct Finished {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

fn run(netns: &NetnsTarget, args: &[&str], stdin: Option<&str>) -> Result<Finished, Error> {
    let (program, argv) = netns.nft_command(args);
    let line = format!("{program} {}", argv.join(" "));
    let mut child = Command::new(&program)
        .args(&argv)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Spawn {
            program: line.clone(),
            netns: netns.to_string(),
            hint: spawn_hint(&program, &e),
            source: e,
        })?;
    // Pipes are served by threads so that neither side can block the other.
    let writer = match (stdin, child.stdin.take()) {
        (Some(text), Some(mut pipe)) => {
            let text = text.to_string();
            Some(thread::spawn(move || {
                let _ = pipe.write_all(text.as_bytes());
            }))
        }
        _ => None,
    };
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + NFT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(1)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Timeout {
                    program: line,
                    netns: netns.to_string(),
                    seconds: NFT_TIMEOUT.as_secs(),
                    hint: "nft hung: check for a stuck nft process or a huge document".into(),
                });
            }
            Err(e) => {
                return Err(Error::Spawn {
                    program: line,
                    netns: netns.to_string(),
                    hint: "waiting for the child failed".into(),
                    source: e,
                });
            }
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    Ok(Finished {
        success: status.success(),
        status: status.to_string(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn failed(netns: &NetnsTarget, args: &[&str], f: Finished) -> Error {
    let (program, argv) = netns.nft_command(args);
    let stderr = f.stderr.trim().to_string();
    Error::Failed {
        program: format!("{program} {}", argv.join(" ")),
        netns: netns.to_string(),
        status: f.status,
        hint: hint_for(&stderr),
        stderr,
    }
}

fn parse(netns: &NetnsTarget, args: &[&str], stdout: &str) -> Result<Value, Error> {
    serde_json::from_str(stdout).map_err(|e| {
        let (program, argv) = netns.nft_command(args);
        Error::Output {
            program: format!("{program} {}", argv.join(" ")),
            netns: netns.to_string(),
            source: e,
        }
    })
}

/// Applies `doc` in `netns` as one atomic transaction (`nft -j -f -`). An empty document is
/// not sent.
pub fn apply(netns: &NetnsTarget, doc: &Document) -> Result<(), Error> {
    if doc.is_empty() {
        return Ok(());
    }
    let args = ["-j", "-f", "-"];
    let f = run(netns, &args, Some(doc.text()))?;
    if f.success {
        Ok(())
    } else {
        Err(failed(netns, &args, f))
    }
}

/// `apply`, with nft's echo (`nft -j -e -f -`): the document as applied, every added rule
/// with its kernel handle. An empty document is not sent (and echoes nothing).
pub fn apply_echo(netns: &NetnsTarget, doc: &Document) -> Result<Value, Error> {
    if doc.is_empty() {
        return Ok(Value::Null);
    }
    let args = ["-j", "-e", "-f", "-"];
    let f = run(netns, &args, Some(doc.text()))?;
    if !f.success {
        return Err(failed(netns, &args, f));
    }
    if f.stdout.trim().is_empty() {
        return Ok(Value::Null);
    }
    parse(netns, &args, &f.stdout)
}

/// Handles of the rules of one chain of the table, in chain order (`nft -j list chain`).
pub fn list_rule_handles(netns: &NetnsTarget, chain: &str) -> Result<Vec<u64>, Error> {
    let args = ["-j", "list", "chain", FAMILY, TABLE, chain];
    let f = run(netns, &args, None)?;
    if !f.success {
        return Err(failed(netns, &args, f));
    }
    let v = parse(netns, &args, &f.stdout)?;
    Ok(v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["rule"]["chain"].as_str() == Some(chain))
        .filter_map(|item| item["rule"]["handle"].as_u64())
        .collect())
}

/// Whether a failed listing failed because the table is not there.
fn absent(f: &Finished) -> bool {
    f.stderr.contains("No such file or directory") && !f.stderr.contains("network namespace")
}

/// `nft -j list table inet tierwall`, or `None` when the table does not exist.
pub fn list_table(netns: &NetnsTarget) -> Result<Option<Value>, Error> {
    let args = ["-j", "list", "table", FAMILY, TABLE];
    let f = run(netns, &args, None)?;
    if f.success {
        parse(netns, &args, &f.stdout).map(Some)
    } else if absent(&f) {
        Ok(None)
    } else {
        Err(failed(netns, &args, f))
    }
}

/// Named counters of the table by counter name (empty when the table does not exist).
pub fn list_counters(netns: &NetnsTarget) -> Result<BTreeMap<String, CounterStats>, Error> {
    let args = ["-j", "list", "counters", "table", FAMILY, TABLE];
    let f = run(netns, &args, None)?;
    if !f.success {
        return if absent(&f) {
            Ok(BTreeMap::new())
        } else {
            Err(failed(netns, &args, f))
        };
    }
    let v = parse(netns, &args, &f.stdout)?;
    Ok(counters_of_listing(&v))
}

/// Reads `{"counter": {name, packets, bytes}}` objects of a listing.
pub fn counters_of_listing(listing: &Value) -> BTreeMap<String, CounterStats> {
    let mut out = BTreeMap::new();
    for item in listing["nftables"].as_array().into_iter().flatten() {
        let c = &item["counter"];
        if c["table"].as_str() != Some(TABLE) || c["family"].as_str() != Some(FAMILY) {
            continue;
        }
        if let Some(name) = c["name"].as_str() {
            out.insert(
                name.to_string(),
                CounterStats {
                    packets: c["packets"].as_u64().unwrap_or(0),
                    bytes: c["bytes"].as_u64().unwrap_or(0),
                },
            );
        }
    }
    out
}

/// Deletes the table (nothing happens when it does not exist).
pub fn delete_table(netns: &NetnsTarget) -> Result<(), Error> {
    apply(netns, &remove_document())
}
