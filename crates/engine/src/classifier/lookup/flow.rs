//! A flow as the lookup resolves it: each end ([`End`]: address key, Pod, identity, Node and
//! address class) and the transport with its port class ([`TKey`]), shared by the scans
//! (`scan.rs`), the exact checks (`exact.rs`) and the decisions (`mod.rs`).

use crate::matching::Transport;

/// One resolved end of a flow.
#[derive(Debug, Clone, Copy)]
pub(super) struct End {
    /// The address as `ip_key` keys it (family `v6`).
    pub(super) key: u128,
    /// Non-hostNetwork Pod (index into `pods`) and its identity.
    pub(super) pod: u32,
    pub(super) ident: u32,
    /// Node entry owning the address (or, for a hostNetwork Pod, its Node).
    pub(super) node: u32,
    /// The address's family and its class in that family's partition.
    pub(super) v6: bool,
    pub(super) ipc: u32,
}

/// The transport with its port class.
#[derive(Debug, Clone, Copy)]
pub(super) struct TKey {
    pub(super) transport: Transport,
    /// `Some((protocol index, port class))` for L4, `None` for ICMP.
    pub(super) l4: Option<(usize, usize)>,
}
