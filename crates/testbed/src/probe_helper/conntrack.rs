//! `conntrack-flush`: empties the IPv4 connection-tracking table of the probe helper's netns, with one
//! ctnetlink `IPCTNL_MSG_CT_DELETE` request without attributes (what `conntrack -F` sends), so
//! a test can start a round of probes without entries a previous round left (an ICMP echo or
//! UDP flow that happens to reuse an old identifier would otherwise be `established`).

use netlink_sys::{Socket, constants::NETLINK_NETFILTER};

/// nfnetlink subsystem of connection tracking.
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
/// ctnetlink message: delete (without a tuple: every entry of the family).
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLMSG_ERROR: u16 = 2;
const AF_INET: u8 = 2;

/// The request: `nlmsghdr` (native endian) + `nfgenmsg` (family, version 0, res_id 0).
fn flush_request(seq: u32) -> Vec<u8> {
    let mut msg = Vec::with_capacity(20);
    msg.extend_from_slice(&20u32.to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE).to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&[AF_INET, 0, 0, 0]);
    msg
}

/// The error code of an acknowledgement (`0` = done), if `reply` is one.
fn ack_code(reply: &[u8]) -> Option<i32> {
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if kind != NLMSG_ERROR {
        return None;
    }
    Some(i32::from_ne_bytes(reply.get(16..20)?.try_into().ok()?))
}

/// Flushes the IPv4 conntrack table of the current netns.
pub fn flush() -> Result<(), String> {
    let mut socket =
        Socket::new(NETLINK_NETFILTER).map_err(|e| format!("netfilter netlink socket: {e}"))?;
    socket
        .bind_auto()
        .map_err(|e| format!("bind netlink socket: {e}"))?;
    socket
        .send(&flush_request(1), 0)
        .map_err(|e| format!("send conntrack flush: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let n = socket
        .recv(&mut &mut buf[..], 0)
        .map_err(|e| format!("receive conntrack flush reply: {e}"))?;
    match ack_code(&buf[..n]) {
        Some(0) => Ok(()),
        Some(code) => Err(format!(
            "conntrack flush refused by the kernel: {}",
            std::io::Error::from_raw_os_error(-code)
        )),
        None => Err(format!("unexpected conntrack flush reply ({n} bytes)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_ack_layout() {
        let m = flush_request(7);
        assert_eq!(m.len(), 20);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 20);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), 0x0102);
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 5);
        assert_eq!(m[16], AF_INET);
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(ack_code(&ack), Some(0));
        ack[16..20].copy_from_slice(&(-1i32).to_ne_bytes());
        assert_eq!(ack_code(&ack), Some(-1));
        assert_eq!(ack_code(&m), None);
    }
}
