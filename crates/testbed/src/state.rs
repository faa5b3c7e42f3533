//! The state file `/run/tierwall/testbeds/<prefix>.json`: everything `attach` and `down` need
//! after the process that built the testbed is gone.

use crate::error::TestbedError;
use crate::layout::{Layout, ServePorts};
use crate::options::{BackendChoice, ProbeHelperCommand};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Directory of the state files.
pub const STATE_DIR: &str = "/run/tierwall/testbeds";

const VERSION: u32 = 1;

/// A server process of the testbed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRecord {
    pub netns: String,
    pub pid: u32,
    /// The hostNetwork Pod (`namespace/name`) this server was started for when the Pod was
    /// added to a running testbed (it serves the Pod's ports its Node did not serve yet).
    #[serde(default)]
    pub pod: Option<String>,
    /// The ports it serves.
    #[serde(default)]
    pub serve: ServePorts,
}

/// The persisted testbed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub layout: Layout,
    /// The probe helper the testbed runs in its namespaces (`agent` in state files written
    /// before it was renamed).
    #[serde(alias = "agent")]
    pub probe_helper: ProbeHelperCommand,
    pub has_sctp: bool,
    pub probe_timeout_ms: u64,
    pub servers: Vec<ServerRecord>,
    /// How Services pick among several backends (kept for [`crate::Testbed::update_services`]).
    #[serde(default)]
    pub backend_choice: BackendChoice,
    /// False while `up` is still building.
    pub complete: bool,
}

impl State {
    pub fn new(
        layout: Layout,
        probe_helper: ProbeHelperCommand,
        has_sctp: bool,
        probe_timeout_ms: u64,
    ) -> Self {
        State {
            version: VERSION,
            layout,
            probe_helper,
            has_sctp,
            probe_timeout_ms,
            servers: Vec::new(),
            backend_choice: BackendChoice::default(),
            complete: false,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.layout.prefix
    }
}

pub fn state_path(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{prefix}.json"))
}

/// A directory other crates keep per-testbed data in (`<prefix>.d/`, e.g. the desired state
/// `tierwall apply` works on); removed with the testbed.
pub fn data_dir(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{prefix}.d"))
}

/// The probe helpers' stderr, for debugging.
pub fn log_path(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{prefix}.log"))
}

fn ensure_dir() -> Result<(), TestbedError> {
    std::fs::create_dir_all(STATE_DIR)
        .map_err(|e| TestbedError::io(format!("create {STATE_DIR}"), e))
}

/// Writes the state file of a new prefix; `Ok(false)` if that prefix is taken.
pub fn reserve(state: &State) -> Result<bool, TestbedError> {
    ensure_dir()?;
    let path = state_path(state.prefix());
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut f) => {
            let text = serde_json::to_string_pretty(state).map_err(|e| TestbedError::State {
                path: path.clone(),
                message: e.to_string(),
            })?;
            f.write_all(text.as_bytes())
                .map_err(|e| TestbedError::io(format!("write {}", path.display()), e))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(TestbedError::io(format!("create {}", path.display()), e)),
    }
}

/// Replaces the state file atomically.
pub fn write(state: &State) -> Result<(), TestbedError> {
    ensure_dir()?;
    let path = state_path(state.prefix());
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(state).map_err(|e| TestbedError::State {
        path: path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&tmp, text)
        .map_err(|e| TestbedError::io(format!("write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| TestbedError::io(format!("rename {}", tmp.display()), e))
}

pub fn read(prefix: &str) -> Result<State, TestbedError> {
    let path = state_path(prefix);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TestbedError::NotFound(prefix.into()));
        }
        Err(e) => return Err(TestbedError::io(format!("read {}", path.display()), e)),
    };
    let state: State = serde_json::from_str(&text).map_err(|e| TestbedError::State {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if state.version != VERSION {
        return Err(TestbedError::State {
            path,
            message: format!("version {} (this build reads {VERSION})", state.version),
        });
    }
    Ok(state)
}

/// Removes the state and log files and the data directory of a prefix (missing ones are fine).
pub fn remove(prefix: &str) -> Result<(), TestbedError> {
    let dir = data_dir(prefix);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(TestbedError::io(format!("remove {}", dir.display()), e)),
    }
    for path in [
        state_path(prefix),
        state_path(prefix).with_extension("json.tmp"),
        log_path(prefix),
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(TestbedError::io(format!("remove {}", path.display()), e)),
        }
    }
    Ok(())
}

/// Prefixes that have a state file.
pub fn list() -> Result<Vec<String>, TestbedError> {
    let entries = match std::fs::read_dir(STATE_DIR) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TestbedError::io(format!("read {STATE_DIR}"), e)),
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    out.sort();
    Ok(out)
}

/// A lock held while namespaces are created (concurrent `ip netns add` may race on the first
/// mount of /run/netns).
pub fn lock() -> Result<File, TestbedError> {
    ensure_dir()?;
    let path = Path::new(STATE_DIR).join(".lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| TestbedError::io(format!("open {}", path.display()), e))?;
    f.lock()
        .map_err(|e| TestbedError::io(format!("lock {}", path.display()), e))?;
    Ok(f)
}

/// The probe helpers' log file, opened for appending.
pub fn open_log(prefix: &str) -> Result<File, TestbedError> {
    ensure_dir()?;
    let path = log_path(prefix);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| TestbedError::io(format!("open {}", path.display()), e))
}
