//! CIDR arithmetic of rule sets: an ipBlock minus its `except` entries, as the list of CIDRs
//! that remain (what a Node's rule set and its nftables interval sets hold).

use ipnet::IpNet;
#[cfg(test)]
use std::net::IpAddr;

/// `cidr` minus `except`, as a list of CIDRs.
pub fn subtract(cidr: IpNet, except: &[IpNet]) -> Vec<IpNet> {
    let mut parts = vec![cidr];
    for e in except {
        let mut next = Vec::new();
        for p in parts {
            if !p.contains(e) && !e.contains(&p) {
                next.push(p);
            } else if e.contains(&p) {
                // removed entirely
            } else {
                // split p until the except is carved out
                next.extend(carve(p, *e));
            }
        }
        parts = next;
    }
    parts
}

fn carve(p: IpNet, e: IpNet) -> Vec<IpNet> {
    if p.prefix_len() >= e.prefix_len() {
        return if e.contains(&p) { vec![] } else { vec![p] };
    }
    let Ok(halves) = p.subnets(p.prefix_len() + 1) else {
        return vec![p];
    };
    let mut out = Vec::new();
    for h in halves {
        if h.contains(&e) || h == e {
            out.extend(carve(h, e));
        } else if !e.contains(&h) {
            out.push(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_carves_excepts() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        let got = subtract(n("10.0.0.0/24"), &[n("10.0.0.128/25")]);
        assert_eq!(got, vec![n("10.0.0.0/25")]);
        let got = subtract(n("10.0.0.0/24"), &[n("10.0.0.5/32")]);
        assert_eq!(got.len(), 8);
        assert!(
            got.iter()
                .all(|c| !c.contains(&"10.0.0.5".parse::<IpAddr>().unwrap()))
        );
        assert!(
            got.iter()
                .any(|c| c.contains(&"10.0.0.4".parse::<IpAddr>().unwrap()))
        );
        assert_eq!(subtract(n("10.0.0.0/24"), &[n("10.0.0.0/16")]), vec![]);
    }
}
