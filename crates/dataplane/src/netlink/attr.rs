//! nf_tables netlink attributes and messages: the uapi numbers tierwall writes
//! (`linux/netfilter/nf_tables.h`, `nfnetlink.h`), an attribute tree type that serializes
//! through `netlink-packet-core`'s `Nla`, and the nfnetlink message (`nfgenmsg` + attributes).

use netlink_packet_core::{Emitable, NLA_F_NESTED, NetlinkSerializable, Nla};

/// `NFNL_SUBSYS_NFTABLES`: the nfnetlink subsystem of nf_tables.
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN` / `NFNL_MSG_BATCH_END` (`NLMSG_MIN_TYPE` and the next).
pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
/// `NFPROTO_INET`: the `inet` family of the tierwall table.
pub const NFPROTO_INET: u8 = 1;
/// `AF_UNSPEC`, the family of batch delimiters.
pub const AF_UNSPEC: u8 = 0;

/// nf_tables message types (`enum nf_tables_msg_types`).
pub const NFT_MSG_NEWCHAIN: u16 = 3;
pub const NFT_MSG_DELCHAIN: u16 = 5;
pub const NFT_MSG_NEWRULE: u16 = 6;
pub const NFT_MSG_GETRULE: u16 = 7;
pub const NFT_MSG_DELRULE: u16 = 8;
pub const NFT_MSG_NEWSET: u16 = 9;
pub const NFT_MSG_GETSET: u16 = 10;
pub const NFT_MSG_DELSET: u16 = 11;
pub const NFT_MSG_NEWSETELEM: u16 = 12;
pub const NFT_MSG_DELSETELEM: u16 = 14;
pub const NFT_MSG_NEWOBJ: u16 = 18;
pub const NFT_MSG_DELOBJ: u16 = 20;

/// `enum nft_chain_attributes`.
pub const NFTA_CHAIN_TABLE: u16 = 1;
pub const NFTA_CHAIN_NAME: u16 = 3;

/// `enum nft_rule_attributes`.
pub const NFTA_RULE_TABLE: u16 = 1;
pub const NFTA_RULE_CHAIN: u16 = 2;
pub const NFTA_RULE_HANDLE: u16 = 3;
pub const NFTA_RULE_EXPRESSIONS: u16 = 4;
pub const NFTA_RULE_USERDATA: u16 = 7;
/// libnftnl's rule user data: `NFTNL_UDATA_RULE_COMMENT` (type, length, NUL-terminated text).
pub const NFTNL_UDATA_RULE_COMMENT: u8 = 0;

/// `enum nft_expr_attributes`.
pub const NFTA_EXPR_NAME: u16 = 1;
pub const NFTA_EXPR_DATA: u16 = 2;

/// `enum nft_set_attributes`.
pub const NFTA_SET_TABLE: u16 = 1;
pub const NFTA_SET_NAME: u16 = 2;
pub const NFTA_SET_FLAGS: u16 = 3;
pub const NFTA_SET_KEY_TYPE: u16 = 4;
pub const NFTA_SET_KEY_LEN: u16 = 5;
pub const NFTA_SET_DATA_TYPE: u16 = 6;
pub const NFTA_SET_DATA_LEN: u16 = 7;
pub const NFTA_SET_DESC: u16 = 9;
pub const NFTA_SET_ID: u16 = 10;
pub const NFTA_SET_USERDATA: u16 = 13;
pub const NFTA_SET_OBJ_TYPE: u16 = 15;
/// `enum nft_set_desc_attributes` and `enum nft_set_field_attributes`.
pub const NFTA_SET_DESC_CONCAT: u16 = 2;
pub const NFTA_SET_FIELD_LEN: u16 = 1;
/// `enum nft_set_flags`.
pub const NFT_SET_INTERVAL: u32 = 0x4;
pub const NFT_SET_MAP: u32 = 0x8;
pub const NFT_SET_OBJECT: u32 = 0x40;
pub const NFT_SET_CONCAT: u32 = 0x80;
/// `NFT_DATA_VERDICT`: the data type of a verdict map.
pub const NFT_DATA_VERDICT: u32 = 0xffff_ff00;

/// `enum nft_set_elem_list_attributes`.
pub const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
pub const NFTA_SET_ELEM_LIST_SET: u16 = 2;
pub const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
/// `NFTA_LIST_ELEM`: one element of a list attribute.
pub const NFTA_LIST_ELEM: u16 = 1;

/// `enum nft_set_elem_attributes`.
pub const NFTA_SET_ELEM_KEY: u16 = 1;
pub const NFTA_SET_ELEM_DATA: u16 = 2;
pub const NFTA_SET_ELEM_FLAGS: u16 = 3;
pub const NFTA_SET_ELEM_USERDATA: u16 = 6;
pub const NFTA_SET_ELEM_OBJREF: u16 = 9;
pub const NFTA_SET_ELEM_KEY_END: u16 = 10;
/// `NFT_SET_ELEM_INTERVAL_END`: the element closes an interval (single-field interval sets).
pub const NFT_SET_ELEM_INTERVAL_END: u32 = 1;

/// `enum nft_data_attributes`.
pub const NFTA_DATA_VALUE: u16 = 1;
pub const NFTA_DATA_VERDICT: u16 = 2;
/// `enum nft_verdict_attributes`.
pub const NFTA_VERDICT_CODE: u16 = 1;
pub const NFTA_VERDICT_CHAIN: u16 = 2;
/// Verdict codes: `NF_DROP`, `NF_ACCEPT`, `NFT_JUMP`, `NFT_GOTO`, `NFT_RETURN`.
pub const NF_DROP: i32 = 0;
pub const NF_ACCEPT: i32 = 1;
pub const NFT_JUMP: i32 = -3;
pub const NFT_GOTO: i32 = -4;
pub const NFT_RETURN: i32 = -5;

/// `enum nft_object_attributes` and `NFT_OBJECT_COUNTER`.
pub const NFTA_OBJ_TABLE: u16 = 1;
pub const NFTA_OBJ_NAME: u16 = 2;
pub const NFTA_OBJ_TYPE: u16 = 3;
pub const NFTA_OBJ_DATA: u16 = 4;
pub const NFT_OBJECT_COUNTER: u32 = 1;
/// `enum nft_counter_attributes`.
pub const NFTA_COUNTER_BYTES: u16 = 1;
pub const NFTA_COUNTER_PACKETS: u16 = 2;

/// nft's element user data (libnftnl `NFTNL_UDATA_SET_ELEM_FLAGS` = 1, 4 bytes, host order)
/// with `NFTNL_SET_ELEM_F_INTERVAL_OPEN` = 1: an interval that runs to the end of the address
/// space, so it has no closing element. nft writes exactly these bytes.
pub const UDATA_INTERVAL_OPEN: [u8; 6] = [0x01, 0x04, 0x01, 0x00, 0x00, 0x00];

/// One netlink attribute: a value, or nested attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// A NUL-terminated string.
    Str(u16, String),
    /// A 32-bit value in network byte order (nf_tables numbers are big-endian).
    U32Be(u16, u32),
    /// A 64-bit value in network byte order.
    U64Be(u16, u64),
    /// Raw bytes.
    Bytes(u16, Vec<u8>),
    /// Attributes nested in this one (`NLA_F_NESTED` is set).
    Nested(u16, Vec<Attr>),
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match self {
            Attr::Str(_, s) => s.len() + 1,
            Attr::U32Be(..) => 4,
            Attr::U64Be(..) => 8,
            Attr::Bytes(_, b) => b.len(),
            Attr::Nested(_, attrs) => attrs.as_slice().buffer_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Attr::Str(k, _) | Attr::U32Be(k, _) | Attr::U64Be(k, _) | Attr::Bytes(k, _) => *k,
            Attr::Nested(k, _) => *k | NLA_F_NESTED,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Attr::Str(_, s) => {
                buffer[..s.len()].copy_from_slice(s.as_bytes());
                buffer[s.len()] = 0;
            }
            Attr::U32Be(_, v) => buffer[..4].copy_from_slice(&v.to_be_bytes()),
            Attr::U64Be(_, v) => buffer[..8].copy_from_slice(&v.to_be_bytes()),
            Attr::Bytes(_, b) => buffer[..b.len()].copy_from_slice(b),
            Attr::Nested(_, attrs) => attrs.as_slice().emit(buffer),
        }
    }
}

/// The payload of one nfnetlink message: `struct nfgenmsg` (family, version 0, resource id)
/// followed by attributes. `message_type` is the full netlink type (subsystem << 8 | message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfnlMessage {
    pub message_type: u16,
    pub family: u8,
    /// `res_id` (big-endian on the wire): the subsystem for batch delimiters, else 0.
    pub resource_id: u16,
    pub attrs: Vec<Attr>,
}

impl NfnlMessage {
    /// An nf_tables message of type `msg` in the `inet` family.
    pub fn nftables(msg: u16, attrs: Vec<Attr>) -> Self {
        NfnlMessage {
            message_type: (NFNL_SUBSYS_NFTABLES << 8) | msg,
            family: NFPROTO_INET,
            resource_id: 0,
            attrs,
        }
    }

    /// `NFNL_MSG_BATCH_BEGIN` or `_END` for the nf_tables subsystem.
    pub fn batch(message_type: u16) -> Self {
        NfnlMessage {
            message_type,
            family: AF_UNSPEC,
            resource_id: NFNL_SUBSYS_NFTABLES,
            attrs: Vec::new(),
        }
    }
}

impl NetlinkSerializable for NfnlMessage {
    fn message_type(&self) -> u16 {
        self.message_type
    }

    fn buffer_len(&self) -> usize {
        4 + self.attrs.as_slice().buffer_len()
    }

    fn serialize(&self, buffer: &mut [u8]) {
        buffer[0] = self.family;
        buffer[1] = 0;
        buffer[2..4].copy_from_slice(&self.resource_id.to_be_bytes());
        self.attrs.as_slice().emit(&mut buffer[4..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_are_aligned_and_flagged() {
        let a = Attr::Nested(3, vec![Attr::Str(1, "ab".into()), Attr::U32Be(2, 1)]);
        let mut buf = vec![0u8; a.buffer_len()];
        a.emit(&mut buf);
        // header (len 20, type 3|NESTED), "ab\0" padded to 4, u32 attr.
        assert_eq!(
            buf,
            [
                20, 0, 3, 0x80, //
                7, 0, 1, 0, b'a', b'b', 0, 0, //
                8, 0, 2, 0, 0, 0, 0, 1
            ]
        );
    }

    #[test]
    fn message_payload_starts_with_nfgenmsg() {
        let m = NfnlMessage::batch(NFNL_MSG_BATCH_BEGIN);
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        assert_eq!(buf, [AF_UNSPEC, 0, 0, 10]);
        assert_eq!(
            NfnlMessage::nftables(NFT_MSG_NEWSETELEM, vec![]).message_type(),
            0x0a0c
        );
    }
}
