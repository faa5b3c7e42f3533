//! The node agent of tierwall: receives its Node's `NodeRuleSet` from the controller, programs
//! the nftables dataplane, turns NFLOG packets of logged rules into np.log audit lines, and
//! snoops the DNS answers to its Pods for FQDN rules (`dns_snoop`, `dns_answer`, `fqdn_cache`).

pub mod audit;
pub mod dns_answer;
pub mod dns_snoop;
pub mod fqdn_cache;
pub mod nflog;
