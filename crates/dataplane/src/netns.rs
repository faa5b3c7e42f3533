//! `NetnsTarget`: the network namespace a dataplane write or read happens in (this process's,
//! a named one, or a namespace file), shared by the nft runner ([`crate::nft`]) and the netlink
//! writer ([`crate::netlink`]).

use std::fmt;
use std::path::PathBuf;

/// The network namespace nft runs in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetnsTarget {
    /// The namespace of this process.
    Current,
    /// A named namespace (`ip netns add <name>`).
    Named(String),
    /// A namespace file (`/proc/<pid>/ns/net`, a bind mount).
    Path(PathBuf),
}

impl fmt::Display for NetnsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetnsTarget::Current => f.write_str("(current)"),
            NetnsTarget::Named(n) => f.write_str(n),
            NetnsTarget::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

impl NetnsTarget {
    /// `nft <args>` as run in this namespace: (program, arguments).
    pub(crate) fn nft_command(&self, args: &[&str]) -> (String, Vec<String>) {
        let mut argv: Vec<String> = Vec::new();
        let program = match self {
            NetnsTarget::Current => "nft".to_string(),
            NetnsTarget::Named(n) => {
                argv.extend(["netns".into(), "exec".into(), n.clone(), "nft".into()]);
                "ip".to_string()
            }
            NetnsTarget::Path(p) => {
                argv.push(format!("--net={}", p.display()));
                argv.push("nft".into());
                "nsenter".to_string()
            }
        };
        argv.extend(args.iter().map(|a| a.to_string()));
        (program, argv)
    }
}
