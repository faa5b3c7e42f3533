//! ICMPv4 packets as read from a raw socket (IPv4 header included): echo requests to send,
//! echo replies and destination-unreachable errors to recognise.

use std::net::Ipv4Addr;
use tierwall_engine::Outcome;

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACHABLE: u8 = 3;
pub const ECHO_REQUEST: u8 = 8;

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request with this identifier and sequence number.
pub fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![ECHO_REQUEST, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"tierwall-testbed");
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// The part of a packet that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmp<'a> {
    /// Sender of the ICMP message.
    pub from: Ipv4Addr,
    pub icmp_type: u8,
    pub code: u8,
    /// Everything after the 4-byte ICMP header (identifier/sequence or unused word, then data).
    pub rest: &'a [u8],
}

fn ipv4_header(packet: &[u8]) -> Option<(usize, u8, Ipv4Addr, Ipv4Addr)> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || packet.len() < ihl {
        return None;
    }
    let proto = packet[9];
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    Some((ihl, proto, src, dst))
}

/// Parses an IPv4 packet carrying ICMP.
pub fn parse(packet: &[u8]) -> Option<Icmp<'_>> {
    let (ihl, proto, src, _) = ipv4_header(packet)?;
    if proto != 1 {
        return None;
    }
    let icmp = packet.get(ihl..)?;
    if icmp.len() < 4 {
        return None;
    }
    Some(Icmp {
        from: src,
        icmp_type: icmp[0],
        code: icmp[1],
        rest: &icmp[4..],
    })
}

impl Icmp<'_> {
    /// `(id, seq)` of an echo request/reply.
    pub fn echo_id_seq(&self) -> Option<(u16, u16)> {
        if self.rest.len() < 4 {
            return None;
        }
        Some((
            u16::from_be_bytes([self.rest[0], self.rest[1]]),
            u16::from_be_bytes([self.rest[2], self.rest[3]]),
        ))
    }

    /// For an error message: the offending packet's `(protocol, src, dst, first 8 bytes of L4)`.
    pub fn inner(&self) -> Option<(u8, Ipv4Addr, Ipv4Addr, &[u8])> {
        let inner = self.rest.get(4..)?;
        let (ihl, proto, src, dst) = ipv4_header(inner)?;
        Some((proto, src, dst, inner.get(ihl..)?))
    }

    /// For an error about a TCP/UDP/SCTP packet: `(src port, dst port)` of the offending packet.
    pub fn inner_ports(&self) -> Option<(u8, Ipv4Addr, u16, u16)> {
        let (proto, _, dst, l4) = self.inner()?;
        if l4.len() < 4 {
            return None;
        }
        Some((
            proto,
            dst,
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ))
    }

    /// Outcome and words for a destination-unreachable message.
    pub fn unreachable_verdict(&self) -> (Outcome, String) {
        let what = match self.code {
            0 => "network unreachable",
            1 => "host unreachable",
            2 => "protocol unreachable",
            3 => "port unreachable",
            4 => "fragmentation needed",
            9 => "network administratively prohibited",
            10 => "host administratively prohibited",
            13 => "communication administratively prohibited",
            _ => "unreachable",
        };
        let outcome = match self.code {
            2 | 3 | 9 | 10 | 13 => Outcome::Rejected,
            _ => Outcome::Dropped,
        };
        (
            outcome,
            format!(
                "ICMP destination unreachable code {} ({what}) from {}",
                self.code, self.from
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn checksum_of_an_echo_request_verifies() {
        let p = echo_request(0x1234, 1);
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 1]);
    }

    #[test]
    fn parses_echo_reply() {
        let mut reply = echo_request(7, 9);
        reply[0] = ECHO_REPLY;
        let pkt = ipv4(1, [10, 10, 2, 12], [10, 10, 1, 11], &reply);
        let m = parse(&pkt).unwrap();
        assert_eq!(m.icmp_type, ECHO_REPLY);
        assert_eq!(m.from, Ipv4Addr::new(10, 10, 2, 12));
        assert_eq!(m.echo_id_seq(), Some((7, 9)));
        assert!(parse(&ipv4(6, [1, 1, 1, 1], [2, 2, 2, 2], &[0; 20])).is_none());
        assert!(parse(&[0x45, 0]).is_none());
    }

    #[test]
    fn parses_admin_prohibited_about_a_udp_packet() {
        let udp = [0x9c, 0x40, 0x00, 0x50, 0, 8, 0, 0];
        let inner = ipv4(17, [10, 10, 1, 11], [10, 10, 2, 12], &udp);
        let mut icmp = vec![DEST_UNREACHABLE, 13, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&inner);
        let pkt = ipv4(1, [172, 18, 0, 3], [10, 10, 1, 11], &icmp);
        let m = parse(&pkt).unwrap();
        assert_eq!(
            m.inner_ports(),
            Some((17, Ipv4Addr::new(10, 10, 2, 12), 40000, 80))
        );
        let (outcome, detail) = m.unreachable_verdict();
        assert_eq!(outcome, Outcome::Rejected);
        assert!(detail.contains("code 13") && detail.contains("172.18.0.3"));
        let host = Icmp { code: 1, ..m };
        assert_eq!(host.unreachable_verdict().0, Outcome::Dropped);
    }
}
