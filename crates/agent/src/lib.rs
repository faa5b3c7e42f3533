//! The node agent of tierwall: receives its Node's `NodeRuleSet` from the controller, programs
//! the nftables dataplane, and turns NFLOG packets of logged rules into np.log audit lines.

pub mod audit;
pub mod nflog;
