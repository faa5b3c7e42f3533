//! DNS answer decoding: a DNS response message → the name → address mappings it carries (A and
//! AAAA records; every CNAME chain leading to an address maps its aliases too, with the smallest
//! TTL along the way). Shared by the snooper ([`crate::dns_snoop`]) that produces the answers and
//! the FQDN cache ([`crate::fqdn_cache`]) that learns their mappings.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::RData;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Longest CNAME chain followed.
const MAX_CHAIN: usize = 16;

/// One name → address mapping of an answer, with the TTL it is valid for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mapping {
    /// Lower case, without the trailing dot.
    pub name: String,
    pub ip: IpAddr,
    /// Seconds (the smallest TTL along the CNAME chain that leads to the address).
    pub ttl: u32,
}

/// What a DNS answer message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedAnswer {
    pub id: u16,
    /// The question's name (lower case, no trailing dot).
    pub question: Option<String>,
    pub rcode: ResponseCode,
    pub truncated: bool,
    pub mappings: Vec<Mapping>,
}

/// `Foo.Example.` → `foo.example`.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Decodes a DNS response message. Every A/AAAA record maps its owner to its address; every
/// name whose CNAME chain (at most 16 links, loops cut) reaches that owner maps to it too, with
/// the smallest TTL along the way. Only NOERROR answers map anything. `None`: not a DNS
/// response.
pub fn decode_answer(message: &[u8]) -> Option<DecodedAnswer> {
    let m = Message::from_vec(message).ok()?;
    if m.metadata.message_type != MessageType::Response {
        return None;
    }
    let mut out = DecodedAnswer {
        id: m.metadata.id,
        question: m.queries.first().map(|q| normalize(&q.name().to_ascii())),
        rcode: m.metadata.response_code,
        truncated: m.metadata.truncation,
        mappings: Vec::new(),
    };
    if m.metadata.response_code != ResponseCode::NoError {
        return Some(out);
    }
    // owner → (target, ttl) for CNAMEs; owner → [(ip, ttl)] for addresses.
    let mut aliases: BTreeMap<String, (String, u32)> = BTreeMap::new();
    let mut addresses: BTreeMap<String, Vec<(IpAddr, u32)>> = BTreeMap::new();
    for rr in &m.answers {
        let owner = normalize(&rr.name.to_ascii());
        match &rr.data {
            RData::A(a) => addresses
                .entry(owner)
                .or_default()
                .push((IpAddr::V4(a.0), rr.ttl)),
            RData::AAAA(a) => addresses
                .entry(owner)
                .or_default()
                .push((IpAddr::V6(a.0), rr.ttl)),
            RData::CNAME(c) => {
                aliases.insert(owner, (normalize(&c.0.to_ascii()), rr.ttl));
            }
            _ => {}
        }
    }
    let mut mappings = Vec::new();
    for (owner, addrs) in &addresses {
        for &(ip, ttl) in addrs {
            mappings.push(Mapping {
                name: owner.clone(),
                ip,
                ttl,
            });
        }
    }
    for alias in aliases.keys() {
        let mut name = alias.clone();
        let mut ttl = u32::MAX;
        for _ in 0..MAX_CHAIN {
            let Some((target, t)) = aliases.get(&name) else {
                break;
            };
            ttl = ttl.min(*t);
            name = target.clone();
            if let Some(addrs) = addresses.get(&name) {
                for &(ip, t) in addrs {
                    mappings.push(Mapping {
                        name: alias.clone(),
                        ip,
                        ttl: ttl.min(t),
                    });
                }
                break;
            }
        }
    }
    mappings.sort();
    mappings.dedup();
    out.mappings = mappings;
    Some(out)
}
