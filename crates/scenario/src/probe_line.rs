//! Parsing of the one-line probe notation of scenario files:
//! `x/a -> service:x/s1:81/TCP: Dropped`, `node:node-2 -> pod:x/a:80/TCP: Connected`,
//! `x/a -> icmp:y/b: Rejected`, `x/a -> y/b: acnp-deny Drop` (evaluation lines).

use std::fmt;

/// A probe source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Pod { namespace: String, name: String },
    Node(String),
    External(String),
    Ip(String),
}

impl Endpoint {
    /// Parses `ns/pod`, `pod:ns/pod`, `node:<name>`, `external:<name>`, `ip:<addr>`.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("node:") {
            return Ok(Endpoint::Node(rest.to_string()));
        }
        if let Some(rest) = text.strip_prefix("external:") {
            return Ok(Endpoint::External(rest.to_string()));
        }
        if let Some(rest) = text.strip_prefix("ip:") {
            return Ok(Endpoint::Ip(rest.to_string()));
        }
        let pod = text.strip_prefix("pod:").unwrap_or(text);
        match pod.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Endpoint::Pod {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(format!(
                "cannot parse endpoint {text:?} (expected ns/pod, node:<name>, external:<name> or ip:<addr>)"
            )),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Endpoint::Node(n) => write!(f, "node:{n}"),
            Endpoint::External(n) => write!(f, "external:{n}"),
            Endpoint::Ip(ip) => write!(f, "ip:{ip}"),
        }
    }
}

/// What a probe dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationKind {
    Pod { namespace: String, name: String },
    Service { namespace: String, name: String },
    Node(String),
    Ip(String),
    External(String),
    Fqdn(String),
}

impl DestinationKind {
    /// Parses a destination without transport (the `tierwall trace --destination` form):
    /// `ns/pod`, `pod:ns/pod`, `service:ns/name` (or `svc:`), `node:<name>`, `ip:<addr>`,
    /// `external:<name>`, `fqdn:<name>`.
    pub fn parse(text: &str) -> Result<DestinationKind, String> {
        let text = text.trim();
        let ns_name = |t: &str| -> Result<(String, String), String> {
            match t.split_once('/') {
                Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                    Ok((ns.to_string(), name.to_string()))
                }
                _ => Err(format!("destination {text:?}: expected <namespace>/<name>")),
            }
        };
        let non_empty = |t: &str| -> Result<String, String> {
            if t.is_empty() {
                Err(format!("destination {text:?}: empty name"))
            } else {
                Ok(t.to_string())
            }
        };
        if let Some(rest) = text
            .strip_prefix("service:")
            .or_else(|| text.strip_prefix("svc:"))
        {
            let (namespace, name) = ns_name(rest)?;
            return Ok(DestinationKind::Service { namespace, name });
        }
        if let Some(rest) = text.strip_prefix("node:") {
            return Ok(DestinationKind::Node(non_empty(rest)?));
        }
        if let Some(rest) = text.strip_prefix("ip:") {
            return Ok(DestinationKind::Ip(non_empty(rest)?));
        }
        if let Some(rest) = text.strip_prefix("external:") {
            return Ok(DestinationKind::External(non_empty(rest)?));
        }
        if let Some(rest) = text.strip_prefix("fqdn:") {
            return Ok(DestinationKind::Fqdn(non_empty(rest)?));
        }
        let pod = text.strip_prefix("pod:").unwrap_or(text);
        if pod.contains(':') {
            return Err(format!(
                "cannot parse destination {text:?} (expected ns/pod, pod:ns/pod, service:ns/name, node:<name>, ip:<addr> or fqdn:<name>)"
            ));
        }
        let (namespace, name) = ns_name(pod)?;
        Ok(DestinationKind::Pod { namespace, name })
    }
}

/// A probe destination with its transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub kind: DestinationKind,
    /// `None` for ICMP.
    pub port: Option<(u16, String)>,
}

impl Destination {
    pub fn parse(text: &str) -> Result<Destination, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("icmp:") {
            let kind = match Endpoint::parse(rest)? {
                Endpoint::Pod { namespace, name } => DestinationKind::Pod { namespace, name },
                Endpoint::Node(n) => DestinationKind::Node(n),
                Endpoint::External(n) => DestinationKind::External(n),
                Endpoint::Ip(ip) => DestinationKind::Ip(ip),
            };
            return Ok(Destination { kind, port: None });
        }
        let (kind_text, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("cannot parse destination {text:?}"))?;
        let (target, port_proto) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("destination {text:?} has no :port/PROTOCOL"))?;
        let (port, proto) = port_proto.split_once('/').ok_or_else(|| {
            format!("destination {text:?}: expected port/PROTOCOL, got {port_proto:?}")
        })?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("destination {text:?}: bad port {port:?}"))?;
        let ns_name = |t: &str| -> Result<(String, String), String> {
            t.split_once('/')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("destination {text:?}: expected ns/name"))
        };
        let kind = match kind_text {
            "pod" => {
                let (namespace, name) = ns_name(target)?;
                DestinationKind::Pod { namespace, name }
            }
            "service" | "svc" => {
                let (namespace, name) = ns_name(target)?;
                DestinationKind::Service { namespace, name }
            }
            "node" => DestinationKind::Node(target.to_string()),
            "ip" => DestinationKind::Ip(target.to_string()),
            "external" => DestinationKind::External(target.to_string()),
            "fqdn" => DestinationKind::Fqdn(target.to_string()),
            other => return Err(format!("destination {text:?}: unknown kind {other:?}")),
        };
        Ok(Destination {
            kind,
            port: Some((port, proto.to_ascii_uppercase())),
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.kind {
            DestinationKind::Pod { namespace, name } => format!("pod:{namespace}/{name}"),
            DestinationKind::Service { namespace, name } => format!("service:{namespace}/{name}"),
            DestinationKind::Node(n) => format!("node:{n}"),
            DestinationKind::Ip(ip) => format!("ip:{ip}"),
            DestinationKind::External(n) => format!("external:{n}"),
            DestinationKind::Fqdn(n) => format!("fqdn:{n}"),
        };
        match &self.port {
            Some((port, proto)) => write!(f, "{target}:{port}/{proto}"),
            None => write!(
                f,
                "icmp:{}",
                target.split_once(':').map(|x| x.1).unwrap_or(&target)
            ),
        }
    }
}

/// Splits `<left> -> <right>: <expected>`.
pub fn split_line(line: &str) -> Result<(&str, &str, &str), String> {
    let (left, rest) = line
        .split_once(" -> ")
        .ok_or_else(|| format!("expected '<src> -> <dst>: <outcome>' in {line:?}"))?;
    let (right, expected) = rest
        .rsplit_once(": ")
        .ok_or_else(|| format!("expected ': <outcome>' in {line:?}"))?;
    Ok((left.trim(), right.trim(), expected.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_probe_lines() {
        let (s, d, e) = split_line("x/a -> service:x/s1:81/TCP: Dropped").unwrap();
        assert_eq!(
            Endpoint::parse(s).unwrap(),
            Endpoint::Pod {
                namespace: "x".into(),
                name: "a".into()
            }
        );
        let d = Destination::parse(d).unwrap();
        assert_eq!(
            d.kind,
            DestinationKind::Service {
                namespace: "x".into(),
                name: "s1".into()
            }
        );
        assert_eq!(d.port, Some((81, "TCP".into())));
        assert_eq!(e, "Dropped");
        let d = Destination::parse("icmp:y/b").unwrap();
        assert_eq!(d.port, None);
        let d = Destination::parse("fqdn:svc-a.x.svc.cluster.local:80/TCP").unwrap();
        assert_eq!(
            d.kind,
            DestinationKind::Fqdn("svc-a.x.svc.cluster.local".into())
        );
        assert_eq!(
            Endpoint::parse("node:node-2").unwrap(),
            Endpoint::Node("node-2".into())
        );
        assert!(Endpoint::parse("bogus").is_err());
    }

    #[test]
    fn parses_destinations_without_transport() {
        let pod = DestinationKind::Pod {
            namespace: "y".into(),
            name: "b".into(),
        };
        assert_eq!(DestinationKind::parse("y/b").unwrap(), pod);
        assert_eq!(DestinationKind::parse("pod:y/b").unwrap(), pod);
        assert_eq!(
            DestinationKind::parse("service:x/s1").unwrap(),
            DestinationKind::Service {
                namespace: "x".into(),
                name: "s1".into()
            }
        );
        assert_eq!(
            DestinationKind::parse("ip:fd00::1").unwrap(),
            DestinationKind::Ip("fd00::1".into())
        );
        assert_eq!(
            DestinationKind::parse("fqdn:example.com").unwrap(),
            DestinationKind::Fqdn("example.com".into())
        );
        assert_eq!(
            DestinationKind::parse("node:node-1").unwrap(),
            DestinationKind::Node("node-1".into())
        );
        for bad in ["b", "x/", "bogus:x/y", "service:s1", "node:", "x/y/z"] {
            assert!(DestinationKind::parse(bad).is_err(), "{bad}");
        }
    }
}
