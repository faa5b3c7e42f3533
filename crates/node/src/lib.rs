//! One Node of tierwall: the agent daemon ([`node_agent`]) that reads the Node's rule set from
//! the controller's stream and programs the Node's nftables table (through
//! `tierwall_dataplane::TableWriter`), its np.log writer ([`np_log`] over [`nflog`] and
//! [`audit`]), the snooping of DNS answers for FQDN rules ([`dns_snoop`], [`dns_answer`],
//! [`fqdn_cache`], reported through [`dns_report`]), the discovery of the Pods' interfaces ([`interfaces`]), and its TLS client
//! ([`client_tls`]). It depends on the contract (`tierwall-node-api`) and the dataplane, never
//! on the engine.
//!
//! ```text
//!  controller ══stream (HTTP/2, mTLS)══> node_agent ──sync──> dataplane::TableWriter ──> nftables
//!                  <══report══            └─ np_log (NFLOG → np.log)
//! ```

pub mod audit;
pub mod client_tls;
pub mod dns_answer;
pub mod dns_report;
pub mod dns_snoop;
pub mod fqdn_cache;
pub mod interfaces;
pub mod nflog;
pub mod node_agent;
pub mod np_log;

pub use node_agent::{AgentOptions, run};
