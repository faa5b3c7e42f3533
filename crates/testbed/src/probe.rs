//! Probe vocabulary shared by the library and the probe helper: where a probe starts ([`Endpoint`]),
//! what it sends ([`Transport`]), what happened ([`ProbeResult`]).

use crate::error::TestbedError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use tierwall_engine::Outcome;
use tierwall_engine::cluster::L4Protocol;

/// Where a probe starts: a Pod (a hostNetwork Pod probes from its Node's netns), a Node, or an
/// external.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Pod { namespace: String, name: String },
    Node(String),
    External(String),
}

impl Endpoint {
    pub fn pod(namespace: &str, name: &str) -> Self {
        Endpoint::Pod {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn node(name: &str) -> Self {
        Endpoint::Node(name.into())
    }

    pub fn external(name: &str) -> Self {
        Endpoint::External(name.into())
    }

    /// Parses the scenario notation: `x/a`, `pod:x/a`, `node:node-1`, `external:ext-1`.
    pub fn parse(text: &str) -> Option<Endpoint> {
        let text = text.trim();
        if let Some(n) = text.strip_prefix("node:") {
            return (!n.is_empty()).then(|| Endpoint::node(n));
        }
        if let Some(n) = text.strip_prefix("external:") {
            return (!n.is_empty()).then(|| Endpoint::external(n));
        }
        let pod = text.strip_prefix("pod:").unwrap_or(text);
        let (ns, name) = pod.split_once('/')?;
        (!ns.is_empty() && !name.is_empty() && !name.contains('/')).then(|| Endpoint::pod(ns, name))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Endpoint::Node(n) => write!(f, "node:{n}"),
            Endpoint::External(n) => write!(f, "external:{n}"),
        }
    }
}

/// What a probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp(u16),
    Udp(u16),
    Sctp(u16),
    /// One ICMP echo request.
    Icmp,
}

impl Transport {
    pub fn l4(protocol: L4Protocol, port: u16) -> Self {
        match protocol {
            L4Protocol::Tcp => Transport::Tcp(port),
            L4Protocol::Udp => Transport::Udp(port),
            L4Protocol::Sctp => Transport::Sctp(port),
        }
    }

    /// The probe helper's command-line form: `["--tcp", "10.10.2.12:80"]`, `["--icmp", "10.10.2.12"]`.
    pub fn helper_args(self, dst: IpAddr) -> [String; 2] {
        match self {
            Transport::Tcp(p) => ["--tcp".into(), SocketAddr::new(dst, p).to_string()],
            Transport::Udp(p) => ["--udp".into(), SocketAddr::new(dst, p).to_string()],
            Transport::Sctp(p) => ["--sctp".into(), SocketAddr::new(dst, p).to_string()],
            Transport::Icmp => ["--icmp".into(), dst.to_string()],
        }
    }

    /// Inverse of [`Transport::helper_args`].
    pub fn parse_helper_args(flag: &str, value: &str) -> Option<(IpAddr, Transport)> {
        if flag == "--icmp" {
            return value.parse().ok().map(|ip| (ip, Transport::Icmp));
        }
        let addr: SocketAddr = value.parse().ok()?;
        let t = match flag {
            "--tcp" => Transport::Tcp(addr.port()),
            "--udp" => Transport::Udp(addr.port()),
            "--sctp" => Transport::Sctp(addr.port()),
            _ => return None,
        };
        Some((addr.ip(), t))
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Tcp(p) => write!(f, "{p}/TCP"),
            Transport::Udp(p) => write!(f, "{p}/UDP"),
            Transport::Sctp(p) => write!(f, "{p}/SCTP"),
            Transport::Icmp => f.write_str("ICMP"),
        }
    }
}

/// One probe of a batch ([`crate::Testbed::probe_many`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub src: Endpoint,
    pub dst: IpAddr,
    pub transport: Transport,
}

impl Probe {
    pub fn new(src: Endpoint, dst: IpAddr, transport: Transport) -> Self {
        Probe {
            src,
            dst,
            transport,
        }
    }
}

/// What happened to a probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    pub outcome: Outcome,
    /// Human-readable evidence: the error, the ICMP type/code and who sent it, the time taken.
    pub detail: String,
    /// The client address the server saw (TCP, UDP and SCTP servers of the testbed tell it), so
    /// tests can check that NodePort keeps the client address.
    pub server_saw: Option<SocketAddr>,
}

/// One line of `tierwall-probe-helper probe` output.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireResult {
    pub outcome: String,
    pub detail: String,
    #[serde(default)]
    pub server_saw: Option<String>,
}

impl WireResult {
    pub fn from_result(r: &ProbeResult) -> Self {
        WireResult {
            outcome: r.outcome.as_str().into(),
            detail: r.detail.clone(),
            server_saw: r.server_saw.map(|a| a.to_string()),
        }
    }

    pub fn into_result(self, netns: &str) -> Result<ProbeResult, TestbedError> {
        let outcome = Outcome::parse(&self.outcome).ok_or_else(|| TestbedError::ProbeHelper {
            netns: netns.into(),
            message: format!("unknown outcome {:?}", self.outcome),
        })?;
        Ok(ProbeResult {
            outcome,
            detail: self.detail,
            server_saw: self.server_saw.and_then(|s| s.parse().ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_print() {
        for text in ["x/a", "node:node-1", "external:ext-1"] {
            assert_eq!(Endpoint::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Endpoint::parse("pod:y/b"), Some(Endpoint::pod("y", "b")));
        assert_eq!(Endpoint::parse("x"), None);
        assert_eq!(Endpoint::parse("node:"), None);
        assert_eq!(Endpoint::parse("a/b/c"), None);
    }

    #[test]
    fn transports_round_trip_through_helper_args() {
        let ip: IpAddr = "10.10.2.12".parse().unwrap();
        for t in [
            Transport::Tcp(80),
            Transport::Udp(53),
            Transport::Sctp(81),
            Transport::Icmp,
        ] {
            let [flag, value] = t.helper_args(ip);
            assert_eq!(Transport::parse_helper_args(&flag, &value), Some((ip, t)));
        }
        assert_eq!(Transport::parse_helper_args("--tcp", "10.0.0.1"), None);
        assert_eq!(Transport::l4(L4Protocol::Udp, 5).to_string(), "5/UDP");
    }
}
