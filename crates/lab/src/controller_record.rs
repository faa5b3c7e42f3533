//! Which controller owns a testbed's Nodes: `tierwall controller --testbed` records itself
//! (its pid, its API and its watched directory) in the testbed's data directory while it runs,
//! so that `tierwall apply`/`delete --testbed` send their changes through it instead of writing
//! the Nodes' tables behind its back.
//!
//! ```text
//!  /run/tierwall/testbeds/<prefix>.d/controller.json   {"pid", "api", "manifests",
//!                                                      "clientIdentity" (HTTPS API)}
//!     written once the API listens, removed when the controller stops; a record whose process
//!     is gone (SIGKILL) is stale: `running` ignores it
//! ```

use crate::LiveError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the record in the testbed's data directory.
pub const CONTROLLER_RECORD_FILE: &str = "controller.json";

/// A running controller of a testbed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerRecord {
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub api: String,
    /// The directory it watches (API writes land there as files).
    pub manifests: PathBuf,
    /// An API client identity (tls.crt, tls.key, ca.crt) when the API is HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_identity: Option<PathBuf>,
}

/// `/run/tierwall/testbeds/<prefix>.d/controller.json`.
pub fn record_path(prefix: &str) -> PathBuf {
    tierwall_testbed::state::data_dir(prefix).join(CONTROLLER_RECORD_FILE)
}

/// Records `record` as the controller of testbed `prefix`.
pub fn save(prefix: &str, record: &ControllerRecord) -> Result<(), LiveError> {
    let text = serde_json::to_string_pretty(record)
        .map_err(|e| LiveError::Other(format!("serializing the controller record: {e}")))?;
    crate::persisted::write_atomically(prefix, &record_path(prefix), &(text + "\n"))
}

/// Removes the record of testbed `prefix` if it is this process's (`pid`).
pub fn remove(prefix: &str, pid: u32) {
    let path = record_path(prefix);
    if read(&path).is_some_and(|r| r.pid == pid) {
        let _ = std::fs::remove_file(&path);
    }
}

fn read(path: &Path) -> Option<ControllerRecord> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The controller running for testbed `prefix`, if any: a record whose process still runs
/// `tierwall controller`.
pub fn running(prefix: &str) -> Option<ControllerRecord> {
    let record = read(&record_path(prefix))?;
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", record.pid)).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.iter().any(|a| *a == b"controller").then_some(record)
}
