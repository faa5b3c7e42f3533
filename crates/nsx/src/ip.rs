//! IP literals as NSX accepts them in rules and IPAddressExpressions (`10.0.0.1`,
//! `10.0.0.0/24`, `10.0.0.1-10.0.0.9`, the same for IPv6), and their conversion to the CIDRs an
//! Antrea `ipBlock` takes.

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use std::net::IpAddr;

/// A parsed address, prefix or range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpLiteral {
    /// A single address or a prefix (a single address is a /32 or /128).
    Net(IpNet),
    /// An inclusive range; both ends have the same family and `start <= end`.
    Range(IpAddr, IpAddr),
}

impl IpLiteral {
    /// Parses `text`; `None` when it is not an address, prefix or well-formed range.
    pub fn parse(text: &str) -> Option<IpLiteral> {
        let text = text.trim();
        if let Some((start, end)) = text.split_once('-') {
            let start: IpAddr = start.trim().parse().ok()?;
            let end: IpAddr = end.trim().parse().ok()?;
            let same_family = start.is_ipv4() == end.is_ipv4();
            return (same_family && start <= end).then_some(IpLiteral::Range(start, end));
        }
        if text.contains('/') {
            return text.parse::<IpNet>().ok().map(IpLiteral::Net);
        }
        text.parse::<IpAddr>()
            .ok()
            .map(|address| IpLiteral::Net(IpNet::from(address)))
    }

    pub fn is_ipv4(&self) -> bool {
        match self {
            IpLiteral::Net(net) => matches!(net, IpNet::V4(_)),
            IpLiteral::Range(start, _) => start.is_ipv4(),
        }
    }

    /// The CIDRs that cover exactly this literal (a prefix keeps the text's address bits).
    pub fn to_cidrs(&self) -> Vec<IpNet> {
        match *self {
            IpLiteral::Net(net) => vec![net],
            IpLiteral::Range(IpAddr::V4(start), IpAddr::V4(end)) => {
                Ipv4Subnets::new(start, end, 0).map(IpNet::V4).collect()
            }
            IpLiteral::Range(IpAddr::V6(start), IpAddr::V6(end)) => {
                Ipv6Subnets::new(start, end, 0).map(IpNet::V6).collect()
            }
            IpLiteral::Range(..) => Vec::new(),
        }
    }
}

/// True when `text` parses as an IP literal.
pub fn is_ip_literal(text: &str) -> bool {
    IpLiteral::parse(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_prefixes_and_ranges() {
        let cidrs = |t: &str| {
            IpLiteral::parse(t).map(|l| {
                l.to_cidrs()
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(cidrs("10.0.0.1"), Some(vec!["10.0.0.1/32".to_string()]));
        assert_eq!(cidrs("10.0.0.0/24"), Some(vec!["10.0.0.0/24".to_string()]));
        assert_eq!(
            cidrs("10.0.0.1-10.0.0.4"),
            Some(vec![
                "10.0.0.1/32".to_string(),
                "10.0.0.2/31".to_string(),
                "10.0.0.4/32".to_string()
            ])
        );
        assert_eq!(cidrs("fd00::1"), Some(vec!["fd00::1/128".to_string()]));
        assert_eq!(cidrs("10.0.0.9-10.0.0.1"), None);
        assert_eq!(cidrs("10.0.0.1-fd00::1"), None);
        assert_eq!(cidrs("/infra/domains/default/groups/x"), None);
        assert_eq!(cidrs("ANY"), None);
    }
}
