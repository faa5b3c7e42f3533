//! Shared by the privileged live tests: the live cluster's teardown guard, the reason a
//! privileged test cannot run here, and the random policy generator.

// Each test binary uses part of it.
#![allow(dead_code)]

pub mod random_policies;

use tierwall_lab::LiveCluster;
use tierwall_testbed::ProbeHelperCommand;

/// Tears the live cluster down when the test ends, also on a panic.
pub struct LiveGuard(pub Option<LiveCluster>);

impl LiveGuard {
    pub fn get(&mut self) -> &mut LiveCluster {
        self.0.as_mut().expect("live cluster is up")
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if let Some(live) = self.0.take()
            && let Err(e) = live.down()
        {
            let test = std::thread::current()
                .name()
                .unwrap_or("live test")
                .to_string();
            eprintln!("{test}: teardown: {e}");
        }
    }
}

/// Why a privileged live test cannot run on this machine, if it cannot.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root to create network namespaces (CI runs it as root)".into());
    }
    for tool in ["ip", "nft"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        if !found {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    if ProbeHelperCommand::locate().is_err() {
        return Some("tierwall-probe-helper not built (cargo build -p tierwall-testbed)".into());
    }
    None
}
