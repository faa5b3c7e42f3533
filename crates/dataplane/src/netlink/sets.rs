//! Set and map definitions as nf_tables netlink messages (`NFT_MSG_NEWSET`), with the user data
//! nft 1.0.6 attaches for each kind, so that `nft list` shows them as nft would have written
//! them.

use super::attr::*;
use crate::names::TABLE;
use crate::ruleset::SetKind;

/// nft's set user data (libnftnl `NFTNL_UDATA_SET_*` TLVs, copied from what nft 1.0.6 sends
/// for each kind; `nft list` reads the key byte order and the concatenation's field types
/// from it).
fn set_userdata(kind: SetKind) -> &'static [u8] {
    // Key byte order: big endian (2) for single addresses and ports, host (1) for ifname.
    const BIG_ENDIAN_KEY: &[u8] = &[0x00, 0x04, 0x02, 0x00, 0x00, 0x00];
    const HOST_KEY: &[u8] = &[0x00, 0x04, 0x01, 0x00, 0x00, 0x00];
    const CONCAT: &[u8] = &[
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01,
        0x00,
    ];
    const COUNTER_MAP: &[u8] = &[
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
    ];
    const VERDICT_MAP: &[u8] = &[
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x00,
        0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
    ];
    match kind {
        SetKind::Ipv4 | SetKind::Ipv4Intervals | SetKind::Port => BIG_ENDIAN_KEY,
        SetKind::Ifname => HOST_KEY,
        SetKind::AddrPort | SetKind::AddrProtoPort | SetKind::AddrPair => CONCAT,
        SetKind::CounterMap(_) => COUNTER_MAP,
        SetKind::VerdictMap(_) => VERDICT_MAP,
    }
}

/// `NFT_MSG_NEWSET` attributes of set (or map) `name` of `kind`, with batch-local id `id`:
/// what nft 1.0.6 sends for the `add set`/`add map` the renderer writes.
pub fn new_set(name: &str, kind: SetKind, id: u32) -> Vec<Attr> {
    // Key type: nft's datatype numbers, concatenated 6 bits per field.
    const IPV4: u32 = 7;
    const INET_PROTO: u32 = 12;
    const INET_SERVICE: u32 = 13;
    const IFNAME: u32 = 41;
    let addr_port = (IPV4 << 6) | INET_SERVICE;
    let (key_type, key_len, flags) = match kind {
        SetKind::Ifname => (IFNAME, 16, 0),
        SetKind::Ipv4 => (IPV4, 4, 0),
        SetKind::Ipv4Intervals => (IPV4, 4, NFT_SET_INTERVAL),
        SetKind::Port => (INET_SERVICE, 2, 0),
        SetKind::AddrPort => (addr_port, 8, 0),
        SetKind::AddrProtoPort => ((IPV4 << 12) | (INET_PROTO << 6) | INET_SERVICE, 12, 0),
        SetKind::AddrPair => ((IPV4 << 6) | IPV4, 8, 0),
        SetKind::CounterMap(i) => (
            addr_port,
            8,
            NFT_SET_OBJECT
                | if i {
                    NFT_SET_INTERVAL | NFT_SET_CONCAT
                } else {
                    0
                },
        ),
        SetKind::VerdictMap(i) => (
            addr_port,
            8,
            NFT_SET_MAP
                | if i {
                    NFT_SET_INTERVAL | NFT_SET_CONCAT
                } else {
                    0
                },
        ),
    };
    let mut attrs = vec![
        Attr::Str(NFTA_SET_TABLE, TABLE.into()),
        Attr::Str(NFTA_SET_NAME, name.into()),
        Attr::U32Be(NFTA_SET_FLAGS, flags),
        Attr::U32Be(NFTA_SET_KEY_TYPE, key_type),
        Attr::U32Be(NFTA_SET_KEY_LEN, key_len),
    ];
    match kind {
        SetKind::VerdictMap(_) => {
            attrs.push(Attr::U32Be(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT));
            attrs.push(Attr::U32Be(NFTA_SET_DATA_LEN, 0));
        }
        SetKind::CounterMap(_) => attrs.push(Attr::U32Be(NFTA_SET_OBJ_TYPE, NFT_OBJECT_COUNTER)),
        _ => {}
    }
    attrs.push(Attr::U32Be(NFTA_SET_ID, id));
    if flags & NFT_SET_CONCAT != 0 {
        // The field lengths of the concatenation (address 4, port 2).
        let field =
            |len: u32| Attr::Nested(NFTA_LIST_ELEM, vec![Attr::U32Be(NFTA_SET_FIELD_LEN, len)]);
        attrs.push(Attr::Nested(
            NFTA_SET_DESC,
            vec![Attr::Nested(NFTA_SET_DESC_CONCAT, vec![field(4), field(2)])],
        ));
    }
    attrs.push(Attr::Bytes(NFTA_SET_USERDATA, set_userdata(kind).to_vec()));
    attrs
}
