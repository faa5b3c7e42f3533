//! Reading the kernel's own view of the table back: `NFT_MSG_GETRULE` and `NFT_MSG_GETSET`
//! dumps, as raw attributes. The kernel dumps what it holds in one normal form (whoever wrote
//! it: nft or `crate::netlink`), so equal bytes prove an encoder writes what nft writes.
//!
//! ```text
//!  sendmsg  GETRULE|DUMP {table, chain}   ──>  NEWRULE* {table, chain, handle, expressions,
//!                                                        userdata?} · NLMSG_DONE
//!  sendmsg  GETSET|DUMP {table}           ──>  NEWSET* {table, name, flags, key type/len, ...}
//! ```

use super::attr::*;
use super::{Failure, open_socket};
use crate::error::Error;
use crate::names::TABLE;
use crate::netns::NetnsTarget;
use netlink_packet_core::{
    ErrorBuffer, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_sys::{Socket, SocketAddr};
use std::collections::BTreeMap;

/// One rule as the kernel dumps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRule {
    pub handle: u64,
    /// The `NFTA_RULE_EXPRESSIONS` attribute's value (every expression, as the kernel dumps it).
    pub expressions: Vec<u8>,
    /// `NFTA_RULE_USERDATA` (nft's comment TLV), if any.
    pub userdata: Option<Vec<u8>>,
}

/// Attributes of one message, by type (the `NLA_F_NESTED` bit cleared), in order.
pub type Attrs = Vec<(u16, Vec<u8>)>;

/// Splits attribute bytes into (type, value) pairs.
pub fn parse_attrs(mut bytes: &[u8]) -> Attrs {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = u16::from_ne_bytes([bytes[0], bytes[1]]) as usize;
        let kind = u16::from_ne_bytes([bytes[2], bytes[3]]) & 0x3fff;
        if len < 4 || len > bytes.len() {
            break;
        }
        out.push((kind, bytes[4..len].to_vec()));
        let next = (len + 3) & !3;
        bytes = &bytes[next.min(bytes.len())..];
    }
    out
}

fn attr(attrs: &Attrs, kind: u16) -> Option<&[u8]> {
    attrs
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| v.as_slice())
}

fn string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Sends one dump request and returns the attributes of every reply message.
fn dump(socket: &Socket, msg: u16, attrs: Vec<Attr>) -> Result<Vec<Attrs>, Failure> {
    let io = |context: &'static str| move |e: std::io::Error| (context, e.to_string());
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let mut m = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(NfnlMessage::nftables(msg, attrs)),
    );
    m.finalize();
    let mut bytes = vec![0; m.buffer_len()];
    m.serialize(&mut bytes);
    socket
        .send_to(&bytes, &SocketAddr::new(0, 0), 0)
        .map_err(io("sendmsg"))?;
    let mut out = Vec::new();
    loop {
        let (buf, _) = socket.recv_from_full().map_err(io("reading the dump"))?;
        let mut at = 0;
        while at + 16 <= buf.len() {
            let Ok(msg) = NetlinkBuffer::new_checked(&buf[at..]) else {
                return Err(("reading the dump", "truncated message".to_string()));
            };
            let len = msg.length() as usize;
            match msg.message_type() {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    if let Ok(e) = ErrorBuffer::new_checked(msg.payload())
                        && let Some(code) = e.code()
                    {
                        return Err((
                            "the kernel refused the dump",
                            std::io::Error::from_raw_os_error(-code.get()).to_string(),
                        ));
                    }
                }
                _ => {
                    let payload = msg.payload();
                    if payload.len() >= 4 {
                        out.push(parse_attrs(&payload[4..]));
                    }
                }
            }
            if len == 0 {
                break;
            }
            at += (len + 3) & !3;
        }
    }
}

fn fail(netns: &NetnsTarget, (context, detail): Failure) -> Error {
    Error::Netlink {
        netns: netns.to_string(),
        context: context.to_string(),
        detail,
    }
}

/// The rules of `chain` of the tierwall table in `netns`, in chain order.
pub fn list_rules(netns: &NetnsTarget, chain: &str) -> Result<Vec<KernelRule>, Error> {
    let socket = open_socket(netns).map_err(|e| fail(netns, e))?;
    let replies = dump(
        &socket,
        NFT_MSG_GETRULE,
        vec![
            Attr::Str(NFTA_RULE_TABLE, TABLE.into()),
            Attr::Str(NFTA_RULE_CHAIN, chain.into()),
        ],
    )
    .map_err(|e| fail(netns, e))?;
    Ok(replies
        .into_iter()
        .filter(|a| {
            attr(a, NFTA_RULE_TABLE).map(string).as_deref() == Some(TABLE)
                && attr(a, NFTA_RULE_CHAIN).map(string).as_deref() == Some(chain)
        })
        .map(|a| KernelRule {
            handle: attr(&a, NFTA_RULE_HANDLE)
                .and_then(|h| <[u8; 8]>::try_from(h).ok())
                .map_or(0, u64::from_be_bytes),
            expressions: attr(&a, NFTA_RULE_EXPRESSIONS).unwrap_or_default().to_vec(),
            userdata: attr(&a, NFTA_RULE_USERDATA).map(<[u8]>::to_vec),
        })
        .collect())
}

/// Every set and map of the tierwall table in `netns`: name → its attributes as dumped
/// (the handle removed: it differs between two creations of the same set).
pub fn list_sets(netns: &NetnsTarget) -> Result<BTreeMap<String, Attrs>, Error> {
    /// `NFTA_SET_HANDLE`.
    const NFTA_SET_HANDLE: u16 = 16;
    let socket = open_socket(netns).map_err(|e| fail(netns, e))?;
    let replies = dump(
        &socket,
        NFT_MSG_GETSET,
        vec![Attr::Str(NFTA_SET_TABLE, TABLE.into())],
    )
    .map_err(|e| fail(netns, e))?;
    Ok(replies
        .into_iter()
        .filter(|a| attr(a, NFTA_SET_TABLE).map(string).as_deref() == Some(TABLE))
        .filter_map(|a| {
            let name = string(attr(&a, NFTA_SET_NAME)?);
            let kept = a
                .into_iter()
                .filter(|(k, _)| *k != NFTA_SET_HANDLE)
                .collect();
            Some((name, kept))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_split_on_their_aligned_lengths() {
        let bytes = [6, 0, 1, 0, b'a', b'b', 0, 0, 8, 0, 0x82, 0x80, 1, 2, 3, 4];
        assert_eq!(
            parse_attrs(&bytes),
            vec![(1, b"ab".to_vec()), (0x0082, vec![1, 2, 3, 4])]
        );
    }
}
