//! The one error type of the testbed library.

use std::path::PathBuf;

/// Everything that can go wrong building, using or removing a testbed.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// The cluster cannot be modelled (duplicate addresses, IPv6, a Pod on an unknown Node, ...).
    #[error("cluster not supported by the testbed: {0}")]
    Unsupported(String),
    /// An option is out of range or malformed.
    #[error("invalid testbed option: {0}")]
    InvalidOption(String),
    /// A command we ran failed (exit status non-zero or could not be started).
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    /// A filesystem or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The state file of a testbed could not be read or written.
    #[error("testbed state {path}: {message}")]
    State { path: PathBuf, message: String },
    /// No testbed with this prefix exists (no state file).
    #[error("no testbed with prefix {0:?} (no state file)")]
    NotFound(String),
    /// A name given to an accessor or probe is not part of this testbed.
    #[error("unknown {kind} {name:?} in testbed {prefix}")]
    Unknown {
        kind: &'static str,
        name: String,
        prefix: String,
    },
    /// The `tierwall-probe-helper` binary could not be found.
    #[error(
        "cannot find the probe helper tierwall-probe-helper ({0}); build it with `cargo build -p tierwall-testbed` or set TIERWALL_PROBE_HELPER"
    )]
    ProbeHelperNotFound(String),
    /// The probe helper answered something we could not understand.
    #[error("probe helper in netns {netns}: {message}")]
    ProbeHelper { netns: String, message: String },
    /// SCTP was asked for but the kernel has no SCTP support.
    #[error("SCTP is not supported by this kernel (modprobe sctp failed)")]
    SctpUnsupported,
}

impl TestbedError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TestbedError::Io {
            context: context.into(),
            source,
        }
    }
}
