//! Errors of the dataplane: every one names the program that ran, the network namespace, what
//! the program said, and a hint at the usual cause.

use std::io;

/// A dataplane error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The program could not be started.
    #[error("cannot run `{program}` (netns {netns}): {source}; hint: {hint}")]
    Spawn {
        program: String,
        netns: String,
        #[source]
        source: io::Error,
        hint: String,
    },
    /// The program ran and failed.
    #[error("`{program}` failed in netns {netns} ({status}): {stderr}; hint: {hint}")]
    Failed {
        program: String,
        netns: String,
        status: String,
        stderr: String,
        hint: String,
    },
    /// The program did not finish in time (it was killed).
    #[error("`{program}` did not finish within {seconds} s in netns {netns}; hint: {hint}")]
    Timeout {
        program: String,
        netns: String,
        seconds: u64,
        hint: String,
    },
    /// The program's output is not what nft prints.
    #[error("unexpected output of `{program}` in netns {netns}: {source}")]
    Output {
        program: String,
        netns: String,
        #[source]
        source: serde_json::Error,
    },
    /// A netlink batch (set elements, counters) failed; nothing of it was applied.
    #[error("netlink batch in netns {netns} failed: {context}: {detail}")]
    Netlink {
        netns: String,
        context: String,
        detail: String,
    },
    /// `TableWriter::sync` was given another Node's rule set.
    #[error("the table writer of Node {writer} was given the rule set of Node {rules}")]
    WrongNode { writer: String, rules: String },
}

/// A hint for a failed nft/ip run, from what it printed.
pub(crate) fn hint_for(stderr: &str) -> String {
    let s = stderr.to_ascii_lowercase();
    if s.contains("operation not permitted") || s.contains("permission denied") {
        "nftables and network namespaces need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)".into()
    } else if s.contains("cannot open network namespace")
        || s.contains("no such file or directory") && s.contains("netns")
    {
        "the network namespace does not exist (`ip netns list`; create it with `ip netns add`)"
            .into()
    } else if s.contains("no such file or directory") {
        "an object the transaction refers to is missing: the table was changed behind the \
         agent's back; a full sync rebuilds it"
            .into()
    } else if s.contains("interval overlaps") || s.contains("file exists") {
        "the table's set elements differ from the table writer's record; a full sync rebuilds them"
            .into()
    } else if s.contains("syntax error") || s.contains("unknown") || s.contains("invalid") {
        "nft rejected the JSON document: a rendering bug (please report it with the document)"
            .into()
    } else if s.contains("device or resource busy") {
        "an object is still referenced (a rule uses the set or chain being deleted)".into()
    } else {
        "run the same command by hand with the document (`nft -j -f file`) to see the detail".into()
    }
}

/// A hint for a program that cannot be started.
pub(crate) fn spawn_hint(program: &str, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound {
        format!(
            "`{program}` is not installed: apt-get install -y nftables iproute2 (nsenter is in util-linux)"
        )
    } else if e.kind() == io::ErrorKind::PermissionDenied {
        format!("`{program}` is not executable by this user")
    } else {
        "check the program and the system's process limits".into()
    }
}
