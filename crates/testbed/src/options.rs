//! What a testbed is built with beyond the cluster: externals, extra served ports, how Services
//! pick a backend, where the probe helper is.

use crate::error::TestbedError;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tierwall_engine::cluster::L4Protocol;

/// Name of the probe helper binary of this crate.
pub const PROBE_HELPER_BINARY: &str = "tierwall-probe-helper";

/// Environment variable naming the probe helper program explicitly.
pub const PROBE_HELPER_ENV: &str = "TIERWALL_PROBE_HELPER";

/// How a Service with several backends picks one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendChoice {
    /// `dnat to numgen random mod N map { ... }`: each new connection picks a backend at random
    /// (what kube-proxy does). Conntrack keeps a connection on its backend.
    #[default]
    Random,
    /// Always the first backend (Pods sorted by namespace/name): deterministic.
    First,
}

/// The program run as the probe helper: `program args... serve|probe|sysctl ...`.
///
/// `args` lets a binary embed the probe helper behind a subcommand (for example the `tierwall`
/// CLI can run [`crate::probe_helper::main`] for `tierwall testbed probe-helper ...` and pass
/// `ProbeHelperCommand { program: current_exe, args: ["testbed", "probe-helper"] }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeHelperCommand {
    pub program: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
}

impl ProbeHelperCommand {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        ProbeHelperCommand {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// Finds `tierwall-probe-helper`: `$TIERWALL_PROBE_HELPER`, then next to the running
    /// executable (and one directory up, for test binaries in `target/*/deps`), then `$PATH`.
    pub fn locate() -> Result<ProbeHelperCommand, TestbedError> {
        if let Some(path) = std::env::var_os(PROBE_HELPER_ENV) {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(ProbeHelperCommand::new(path))
            } else {
                Err(TestbedError::ProbeHelperNotFound(format!(
                    "{PROBE_HELPER_ENV}={} is not a file",
                    path.display()
                )))
            };
        }
        let mut candidates = Vec::new();
        if let Ok(exe) = std::env::current_exe()
            && let Some(dir) = exe.parent()
        {
            candidates.push(dir.join(PROBE_HELPER_BINARY));
            if let Some(up) = dir.parent() {
                candidates.push(up.join(PROBE_HELPER_BINARY));
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|d| d.join(PROBE_HELPER_BINARY)));
        }
        candidates
            .into_iter()
            .find(|p| p.is_file())
            .map(ProbeHelperCommand::new)
            .ok_or_else(|| {
                TestbedError::ProbeHelperNotFound("not next to the executable nor on PATH".into())
            })
    }

    pub(crate) fn program(&self) -> &Path {
        &self.program
    }
}

/// A port served over one protocol.
pub type ServedPort = (L4Protocol, u16);

/// Options of [`crate::Testbed::up`]. `TestbedOptions::default()` builds the cluster as given,
/// with no externals.
#[derive(Debug, Clone)]
pub struct TestbedOptions {
    /// Addresses outside the cluster (`cluster.externals` of a scenario): each gets a netns on the
    /// fabric with this IPv4 address.
    pub externals: Vec<(String, IpAddr)>,
    /// The Node subnet: used as the fabric prefix when every Node's first IP is inside it;
    /// otherwise (or when `None`) Node IPs are configured as /16.
    pub node_cidr: Option<Ipv4Net>,
    /// Ports served in every Node netns (besides the ports of its hostNetwork Pods), e.g. an
    /// API server on 6443 and a kubelet on 10250.
    pub node_ports: Vec<ServedPort>,
    /// Ports every external serves.
    pub external_ports: Vec<ServedPort>,
    /// How Services choose among several backends.
    pub backend_choice: BackendChoice,
    /// The probe helper; `None` = [`ProbeHelperCommand::locate`].
    pub probe_helper: Option<ProbeHelperCommand>,
    /// The name prefix; `None` = `tw` + 4 random hex digits. Lowercase letters and digits,
    /// starting with a letter, at most 12 characters.
    pub prefix: Option<String>,
    /// Probe timeout (how long "no answer" is waited for).
    pub probe_timeout: Duration,
}

impl Default for TestbedOptions {
    fn default() -> Self {
        TestbedOptions {
            externals: Vec::new(),
            node_cidr: None,
            node_ports: vec![(L4Protocol::Tcp, 6443), (L4Protocol::Tcp, 10250)],
            external_ports: default_external_ports(),
            backend_choice: BackendChoice::Random,
            probe_helper: None,
            prefix: None,
            probe_timeout: Duration::from_millis(1000),
        }
    }
}

impl TestbedOptions {
    /// Options with these externals and the other defaults.
    pub fn with_externals(externals: Vec<(String, IpAddr)>) -> Self {
        TestbedOptions {
            externals,
            ..TestbedOptions::default()
        }
    }
}

/// TCP 53, 80, 81, 443, 8080; UDP 53, 80, 81; SCTP 80, 81.
pub fn default_external_ports() -> Vec<ServedPort> {
    let mut ports: Vec<ServedPort> = [53, 80, 81, 443, 8080]
        .into_iter()
        .map(|p| (L4Protocol::Tcp, p))
        .collect();
    ports.extend([53, 80, 81].into_iter().map(|p| (L4Protocol::Udp, p)));
    ports.extend([80, 81].into_iter().map(|p| (L4Protocol::Sctp, p)));
    ports
}

/// Checks an explicit prefix: `[a-z][a-z0-9]{0,11}`.
pub fn validate_prefix(prefix: &str) -> Result<(), TestbedError> {
    let mut chars = prefix.chars();
    let ok = prefix.len() <= 12
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(TestbedError::InvalidOption(format!(
            "prefix {prefix:?}: want a lowercase letter then up to 11 lowercase letters or digits"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(validate_prefix("tw1a2b").is_ok());
        assert!(validate_prefix("a").is_ok());
        assert!(validate_prefix("").is_err());
        assert!(validate_prefix("1tw").is_err());
        assert!(validate_prefix("tw-1").is_err());
        assert!(validate_prefix("abcdefghijklm").is_err());
    }
}
