//! One Node of tierwall: the agent daemon ([`node_agent`]) that reads the Node's rule set from
//! the controller's stream and programs the Node's nftables table, its np.log writer
//! ([`np_log`]), the discovery of the Pods' interfaces ([`interfaces`]), and its TLS client
//! ([`client_tls`]). It depends on the contract (`tierwall-node-api`) and the dataplane, never
//! on the engine.
//!
//! ```text
//!  controller ══stream (HTTP/2, mTLS)══> node_agent ──sync──> dataplane::Agent ──> nftables
//!                  <══report══            └─ np_log (NFLOG → np.log)
//! ```

pub mod client_tls;
pub mod interfaces;
pub mod node_agent;
pub mod np_log;

pub use node_agent::{AgentOptions, run};
