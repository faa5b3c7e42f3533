//! An existing NSX API client, unchanged: the PyPI package `nsxctl` (pinned 1.2.0, pure Python,
//! no dependencies) drives a real manager on 127.0.0.1 through
//! `tests/python/drive_nsxctl.py`. It is installed with pip into a venv under the target
//! directory; the test prints SKIPPED and passes only when python3 or pip cannot install it.
//!
//! One quirk, nsxctl's: its hit-count parser (`nsx_toolkit.actions.hygiene._parse_stats`)
//! expects policy statistics as a list `results[].statistics[]` of entries keyed `rule_path`.
//! The NSX SDK model (reference `nsx-api.md` §1.5, §6) has `results[].statistics` as one
//! `SecurityPolicyStatistics` object whose `results[]` are `RuleStatistics` keyed `rule`, and so
//! does the manager; on that shape nsxctl raises `AttributeError`. The manager keeps the real
//! shape; the driver checks it and pins nsxctl's failure (so a fixed nsxctl shows up).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const NSXCTL: &str = "nsxctl==1.2.0";

/// The venv's python with nsxctl installed, or why it could not be had.
fn venv_with_nsxctl() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nsxctl-venv");
    let python = venv.join("bin/python");
    let installed = |py: &Path| {
        Command::new(py)
            .args(["-c", "import nsx_toolkit.http"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && installed(&python) {
        return Ok(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !made.status.success() {
        return Err(format!(
            "python3 -m venv: {}",
            String::from_utf8_lossy(&made.stderr)
        ));
    }
    let pip = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            NSXCTL,
        ])
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if !pip.status.success() || !installed(&python) {
        return Err(format!(
            "pip install {NSXCTL}: {}",
            String::from_utf8_lossy(&pip.stderr)
        ));
    }
    Ok(python)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsxctl_drives_the_manager_unchanged() {
    let python = match tokio::task::spawn_blocking(venv_with_nsxctl).await {
        Ok(Ok(p)) => p,
        Ok(Err(why)) => {
            println!("SKIPPED nsxctl_drives_the_manager_unchanged: {why}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = common::serve(dir.path(), None).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/drive_nsxctl.py");
    let port = server.local_addr.port().to_string();
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .args([port.as_str(), "admin", "admin-pw"])
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "driver failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("nsxctl driver: ok"), "{stdout}\n{stderr}");
    server.shutdown().await;
}
