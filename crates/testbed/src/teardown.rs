//! Removing testbeds: by guard, by prefix, all of them.

use crate::TestbedError;
use crate::exec::{self, Job};
use crate::options;
use crate::state;
use std::collections::{BTreeSet, HashSet};
use std::process::Child;

/// Kills every process in the testbed's namespaces, deletes the namespaces, then the state file.
pub(crate) fn teardown(
    prefix: &str,
    namespaces: &[String],
    children: &mut Vec<Child>,
) -> Result<(), TestbedError> {
    let existing: Vec<&String> = namespaces
        .iter()
        .filter(|n| exec::netns_path(n).exists())
        .collect();
    let inodes: HashSet<u64> = existing
        .iter()
        .filter_map(|n| exec::netns_inode(n))
        .collect();
    for pid in exec::pids_in(&inodes) {
        exec::kill(pid);
    }
    for mut child in children.drain(..) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut errors = Vec::new();
    for ns in &existing {
        if let Err(e) = exec::run(Job::new(exec::ip(&["netns", "delete", ns])))
            && exec::netns_path(ns).exists()
        {
            errors.push(e.to_string());
        }
    }
    state::remove(prefix)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(TestbedError::Command {
            command: format!("teardown of {prefix}"),
            message: errors.join("; "),
        })
    }
}

/// Removes the testbed with this prefix, whether or not a process still holds it: the
/// namespaces its state file lists or, without a readable state file, every netns named
/// `<prefix>-*` provided `<prefix>-fabric` exists (so an unrelated netns is never touched).
pub fn down_by_prefix(prefix: &str) -> Result<(), TestbedError> {
    options::validate_prefix(prefix)?;
    let namespaces = match state::read(prefix) {
        Ok(s) => s.layout.namespaces(),
        Err(TestbedError::NotFound(_)) if !has_fabric(prefix) => {
            return Err(TestbedError::NotFound(prefix.into()));
        }
        Err(_) if !has_fabric(prefix) => Vec::new(),
        Err(_) => {
            let dash = format!("{prefix}-");
            exec::netns_list()
                .into_iter()
                .filter(|n| n.starts_with(&dash))
                .collect()
        }
    };
    teardown(prefix, &namespaces, &mut Vec::new())
}

fn has_fabric(prefix: &str) -> bool {
    exec::netns_path(&format!("{prefix}-fabric")).exists()
}

/// Prefixes of the testbeds on this machine: those with a state file, and orphans (a
/// `tw????-fabric` netns without state file).
pub fn list() -> Result<Vec<String>, TestbedError> {
    let mut out: BTreeSet<String> = state::list()?.into_iter().collect();
    for ns in exec::netns_list() {
        if let Some(p) = ns.strip_suffix("-fabric")
            && p.len() == 6
            && p.starts_with("tw")
            && p[2..].chars().all(|c| c.is_ascii_hexdigit())
        {
            out.insert(p.to_string());
        }
    }
    Ok(out.into_iter().collect())
}

/// Removes every testbed of [`list`]; the prefixes removed.
pub fn down_all() -> Result<Vec<String>, TestbedError> {
    let prefixes = list()?;
    let mut errors = Vec::new();
    for p in &prefixes {
        if let Err(e) = down_by_prefix(p)
            && !matches!(e, TestbedError::NotFound(_))
        {
            errors.push(format!("{p}: {e}"));
        }
    }
    if errors.is_empty() {
        Ok(prefixes)
    } else {
        Err(TestbedError::Command {
            command: "down_all".into(),
            message: errors.join("; "),
        })
    }
}
