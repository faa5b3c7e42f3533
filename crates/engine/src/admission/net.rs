//! IP and CIDR handling with Go's `net` semantics, as Antrea's webhook and the Kubernetes API
//! server see addresses: `net.ParseCIDR` (host bits allowed, e.g. `10.244.1.10/4`; error
//! `invalid CIDR address: <s>`), `net.ParseIP`, `IP.IsMulticast`, `IPNet.Contains` (IPv4-mapped
//! IPv6 addresses count as IPv4) and `IP.String`.

use ipnet::IpNet;
use std::net::IpAddr;

/// A parsed CIDR: the address as written and the masked network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address part exactly as written (host bits kept), like Go's first return value.
    pub ip: IpAddr,
    /// The network (`ip` masked to the prefix).
    pub net: IpNet,
}

/// Go's `net.ParseCIDR`. The error is Go's text: `invalid CIDR address: <s>`.
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let err = || format!("invalid CIDR address: {s}");
    let (addr, mask) = s.split_once('/').ok_or_else(err)?;
    let ip = parse_ip(addr).ok_or_else(err)?;
    // Go's dtoi: decimal digits only (leading zeros allowed), the whole mask, at most the bit length.
    if mask.is_empty() || mask.len() > 8 || !mask.bytes().all(|c| c.is_ascii_digit()) {
        return Err(err());
    }
    let bits: u32 = mask.parse().map_err(|_| err())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(err());
    }
    let prefix = u8::try_from(bits).map_err(|_| err())?;
    let net = IpNet::new(ip, prefix).map_err(|_| err())?.trunc();
    Ok(Cidr { ip, net })
}

/// Kubernetes' `netutils.ParseCIDRSloppy`: like `parse_cidr`, but IPv4 octets may carry
/// leading zeros (read as decimal), as the API server still accepts for NetworkPolicy.
pub fn parse_cidr_sloppy(s: &str) -> Result<Cidr, String> {
    match s.split_once('/') {
        Some((addr, mask)) if !addr.contains(':') && addr.contains('.') => {
            let octets: Vec<&str> = addr
                .split('.')
                .map(|o| {
                    let t = o.trim_start_matches('0');
                    if t.is_empty() && !o.is_empty() {
                        "0"
                    } else {
                        t
                    }
                })
                .collect();
            parse_cidr(&format!("{}/{mask}", octets.join(".")))
                .map_err(|_| format!("invalid CIDR address: {s}"))
        }
        _ => parse_cidr(s),
    }
}

/// Go's `net.ParseIP` (no zones, no leading zeros in IPv4 octets).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok()
}

/// IPv4-mapped IPv6 addresses as IPv4, as Go's `To4` does.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Go's `IP.IsMulticast`: 224.0.0.0/4 or ff00::/8 (IPv4-mapped addresses use the IPv4 rule).
pub fn is_multicast(ip: IpAddr) -> bool {
    match unmap(ip) {
        IpAddr::V4(v4) => v4.is_multicast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

/// Go's `IP.String()`, with `<nil>` for an address that did not parse.
pub fn go_ip_string(ip: Option<IpAddr>) -> String {
    match ip {
        Some(ip) => unmap(ip).to_string(),
        None => "<nil>".to_string(),
    }
}

/// Go's `IPNet.Contains(ip)`: a network whose address is IPv4-mapped behaves as an IPv4
/// network with the last 32 bits of its mask.
fn contains(net: IpNet, ip: IpAddr) -> bool {
    let ip = unmap(ip);
    let (addr, prefix) = match net {
        IpNet::V6(n) => match n.network().to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), n.prefix_len().saturating_sub(96)),
            None => (IpAddr::V6(n.network()), n.prefix_len()),
        },
        IpNet::V4(n) => (IpAddr::V4(n.network()), n.prefix_len()),
    };
    match IpNet::new(addr, prefix) {
        Ok(n) => n.contains(&ip),
        Err(_) => false,
    }
}

/// Antrea's and Kubernetes' "strict subset" check for an `except` entry:
/// `cidr.Contains(except.IP) && cidrPrefixLen < exceptPrefixLen`.
pub fn is_strict_subset(cidr: &Cidr, except: &Cidr) -> bool {
    contains(cidr.net, except.net.network()) && cidr.net.prefix_len() < except.net.prefix_len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cidr_like_go() {
        let c = parse_cidr("10.244.1.10/4").unwrap();
        assert_eq!(c.ip.to_string(), "10.244.1.10");
        assert_eq!(c.net.to_string(), "0.0.0.0/4");
        assert!(
            parse_cidr("10.0.0.0/024").is_ok(),
            "Go's dtoi accepts leading zeros"
        );
        assert!(parse_cidr("2001:db8::/64").is_ok());
        for bad in [
            "192.168.5.6",
            "10.0.0.0/33",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "/8",
            "abc/8",
            "010.0.0.0/8",
            "fe80::1%eth0/64",
            "::/129",
            "",
        ] {
            assert_eq!(
                parse_cidr(bad),
                Err(format!("invalid CIDR address: {bad}")),
                "{bad}"
            );
        }
    }

    #[test]
    fn sloppy_cidr() {
        assert_eq!(
            parse_cidr_sloppy("010.000.0.1/8").unwrap().net.to_string(),
            "10.0.0.0/8"
        );
        assert!(parse_cidr_sloppy("10..0.1/8").is_err());
        assert!(parse_cidr_sloppy("::1/128").is_ok());
    }

    #[test]
    fn strict_subset() {
        let p = |s| parse_cidr(s).unwrap();
        assert!(is_strict_subset(&p("10.0.0.0/8"), &p("10.1.0.0/16")));
        assert!(
            is_strict_subset(&p("10.0.0.0/8"), &p("10.1.2.3/16")),
            "host bits ignored"
        );
        assert!(
            !is_strict_subset(&p("10.0.0.0/8"), &p("10.0.0.0/8")),
            "equal is not strict"
        );
        assert!(!is_strict_subset(&p("10.0.0.0/8"), &p("11.0.0.0/16")));
        assert!(!is_strict_subset(&p("10.0.0.0/16"), &p("10.0.0.0/8")));
        assert!(!is_strict_subset(&p("10.0.0.0/8"), &p("::/120")));
        assert!(is_strict_subset(&p("2001:db8::/32"), &p("2001:db8:1::/48")));
    }

    #[test]
    fn multicast_and_strings() {
        assert!(is_multicast("224.0.0.1".parse().unwrap()));
        assert!(is_multicast("ff02::1".parse().unwrap()));
        assert!(is_multicast("::ffff:239.1.1.1".parse().unwrap()));
        assert!(!is_multicast("10.0.0.1".parse().unwrap()));
        assert_eq!(go_ip_string(parse_ip("::ffff:10.0.0.1")), "10.0.0.1");
        assert_eq!(go_ip_string(parse_ip("nope")), "<nil>");
    }
}
