//! A minimal nf_tables netlink writer (the plan of engineering.md B.3): set and map elements,
//! named counters, set and map definitions, regular chains and their rules, in ONE nfnetlink
//! batch — one atomic kernel transaction, like one `nft -j -f -` run, without the nft process.
//!
//! Why: nft 1.0.6 reads the whole table, every element of every set included, before any
//! command that touches elements or rules (1.3 MB of netlink dump for the 10,000-rule table),
//! so even a one-element change costs it ~20 ms of CPU and ~40 ms of wall time. A diff needs
//! none of that: the agent sends it here whenever every command has a netlink form
//! (`Transaction::netlink`). nft's JSON schema stays the rendering's source of truth: the rule
//! encoder (`rules`) turns those JSON statements into the kernel expressions nft makes of
//! them, and refuses what it does not know (then the diff goes through nft). Full builds,
//! base chains and chains patched rule by rule (by handle) still go through nft.
//!
//! ```text
//!  Batch ── add_counter / add_set / add_elements / delete_elements / add_chain
//!           / flush_chain / add_rule / delete_chain / delete_set / delete_counter ──> messages
//!  Session::commit(netns, batch): (once) thread ── setns(/run/netns/<n>) ── socket(NETLINK_NETFILTER)
//!                  sendmsg [BATCH_BEGIN · DELRULE(flush)* · NEWCHAIN* · NEWOBJ* · NEWSET*
//!                           · DELSETELEM* · NEWSETELEM* · DELRULE(flush) · NEWRULE* · DELCHAIN*
//!                           · DELSET* · DELOBJ* · BATCH_END]      (the nft document's order)
//!                  replies: an error per failed message (the kernel then aborts the whole
//!                  batch), an ACK for the last one
//!  dump::list_rules / list_sets: the kernel's view read back (tests compare bytes with nft's)
//! ```
//!
//! A `Session` keeps one socket per namespace: the socket is opened by a short-lived thread
//! that enters the namespace with `setns` (so no other code ever runs in the wrong namespace)
//! and stays bound to that namespace afterwards. No `unsafe`: `nix` and `netlink-sys` wrap
//! the system calls.

pub mod attr;
pub mod dump;
pub mod elements;
pub mod rules;
pub mod sets;
pub mod statements;

use crate::error::Error;
use crate::names::TABLE;
use crate::netns::NetnsTarget;
use crate::ruleset::{Element, Rule, SetKind};
use attr::*;
use netlink_packet_core::{
    Emitable, ErrorBuffer, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NLMSG_ERROR,
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_sys::{Socket, SocketAddr, constants::NETLINK_NETFILTER};
use std::path::PathBuf;
use std::time::Duration;

pub use elements::ElementMismatch;
pub use statements::Unsupported;

/// The most element bytes put in one message: a nested attribute's length is 16 bits.
const MAX_ELEMENTS_BYTES: usize = 60_000;
/// How long the kernel's replies may take (they are normally queued before `sendmsg`
/// returns: nfnetlink processes a batch in the sender's context).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One nf_tables message of a batch and its extra netlink flags (`NLM_F_CREATE`,
/// `NLM_F_APPEND`).
#[derive(Debug, Clone)]
struct Command {
    message: NfnlMessage,
    flags: u16,
}

/// Commands for one transaction on the `inet tierwall` table, in the order they are added.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    commands: Vec<Command>,
    /// The last batch-local set id given (`NFTA_SET_ID`).
    set_ids: u32,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Number of nf_tables messages (elements are packed many per message).
    pub fn messages(&self) -> usize {
        self.commands.len()
    }

    /// `add counter`: creates the named counter; an existing one keeps its value.
    pub fn add_counter(&mut self, name: &str) {
        self.commands.push(Command {
            message: NfnlMessage::nftables(
                NFT_MSG_NEWOBJ,
                vec![
                    Attr::Str(NFTA_OBJ_TABLE, TABLE.into()),
                    Attr::Str(NFTA_OBJ_NAME, name.into()),
                    Attr::U32Be(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER),
                    Attr::Nested(
                        NFTA_OBJ_DATA,
                        vec![
                            Attr::U64Be(NFTA_COUNTER_BYTES, 0),
                            Attr::U64Be(NFTA_COUNTER_PACKETS, 0),
                        ],
                    ),
                ],
            ),
            flags: NLM_F_CREATE,
        });
    }

    /// `delete counter`.
    pub fn delete_counter(&mut self, name: &str) {
        self.commands.push(Command {
            message: NfnlMessage::nftables(
                NFT_MSG_DELOBJ,
                vec![
                    Attr::Str(NFTA_OBJ_TABLE, TABLE.into()),
                    Attr::Str(NFTA_OBJ_NAME, name.into()),
                    Attr::U32Be(NFTA_OBJ_TYPE, NFT_OBJECT_COUNTER),
                ],
            ),
            flags: 0,
        });
    }

    /// `add chain` of a regular chain (no hook).
    pub fn add_chain(&mut self, name: &str) {
        self.push(
            NFT_MSG_NEWCHAIN,
            vec![
                Attr::Str(NFTA_CHAIN_TABLE, TABLE.into()),
                Attr::Str(NFTA_CHAIN_NAME, name.into()),
            ],
            NLM_F_CREATE,
        );
    }

    /// `delete chain` (it must hold no rules and no jump may lead to it).
    pub fn delete_chain(&mut self, name: &str) {
        self.push(
            NFT_MSG_DELCHAIN,
            vec![
                Attr::Str(NFTA_CHAIN_TABLE, TABLE.into()),
                Attr::Str(NFTA_CHAIN_NAME, name.into()),
            ],
            0,
        );
    }

    /// `flush chain`: `NFT_MSG_DELRULE` with the chain and no handle.
    pub fn flush_chain(&mut self, name: &str) {
        self.push(
            NFT_MSG_DELRULE,
            vec![
                Attr::Str(NFTA_RULE_TABLE, TABLE.into()),
                Attr::Str(NFTA_RULE_CHAIN, name.into()),
            ],
            0,
        );
    }

    /// `add rule`: appends `rule` to `chain` (`Err` when a statement has no netlink form;
    /// the batch is unchanged then).
    pub fn add_rule(&mut self, chain: &str, rule: &Rule) -> Result<(), Unsupported> {
        let attrs = rules::new_rule(chain, &rule.expr, rule.comment.as_deref())?;
        self.push(NFT_MSG_NEWRULE, attrs, NLM_F_CREATE | NLM_F_APPEND);
        Ok(())
    }

    /// `add set` / `add map` (empty) of `kind`.
    pub fn add_set(&mut self, name: &str, kind: SetKind) {
        self.set_ids += 1;
        let attrs = sets::new_set(name, kind, self.set_ids);
        self.push(NFT_MSG_NEWSET, attrs, NLM_F_CREATE);
    }

    /// `delete set` / `delete map`.
    pub fn delete_set(&mut self, name: &str) {
        self.push(
            NFT_MSG_DELSET,
            vec![
                Attr::Str(NFTA_SET_TABLE, TABLE.into()),
                Attr::Str(NFTA_SET_NAME, name.into()),
            ],
            0,
        );
    }

    fn push(&mut self, msg: u16, attrs: Vec<Attr>, flags: u16) {
        self.commands.push(Command {
            message: NfnlMessage::nftables(msg, attrs),
            flags,
        });
    }

    /// `add element` to set (or map) `set` of `kind`.
    pub fn add_elements<'a>(
        &mut self,
        set: &str,
        kind: SetKind,
        elements: impl IntoIterator<Item = &'a Element>,
    ) -> Result<(), ElementMismatch> {
        self.elements(NFT_MSG_NEWSETELEM, set, kind, elements, true)
    }

    /// `delete element` (by key) from set (or map) `set` of `kind`.
    pub fn delete_elements<'a>(
        &mut self,
        set: &str,
        kind: SetKind,
        elements: impl IntoIterator<Item = &'a Element>,
    ) -> Result<(), ElementMismatch> {
        self.elements(NFT_MSG_DELSETELEM, set, kind, elements, false)
    }

    fn elements<'a>(
        &mut self,
        msg: u16,
        set: &str,
        kind: SetKind,
        elements: impl IntoIterator<Item = &'a Element>,
        with_data: bool,
    ) -> Result<(), ElementMismatch> {
        let mut chunk: Vec<Attr> = Vec::new();
        let mut bytes = 0;
        let flush = |chunk: &mut Vec<Attr>, commands: &mut Vec<Command>| {
            if chunk.is_empty() {
                return;
            }
            commands.push(Command {
                message: NfnlMessage::nftables(
                    msg,
                    vec![
                        Attr::Str(NFTA_SET_ELEM_LIST_TABLE, TABLE.into()),
                        Attr::Str(NFTA_SET_ELEM_LIST_SET, set.into()),
                        Attr::Nested(NFTA_SET_ELEM_LIST_ELEMENTS, std::mem::take(chunk)),
                    ],
                ),
                flags: if msg == NFT_MSG_NEWSETELEM {
                    NLM_F_CREATE
                } else {
                    0
                },
            });
        };
        for e in elements {
            for kernel in elements::kernel_elements(kind, e, with_data)? {
                let element = Attr::Nested(NFTA_LIST_ELEM, kernel);
                let len = element.buffer_len();
                if bytes + len > MAX_ELEMENTS_BYTES {
                    flush(&mut chunk, &mut self.commands);
                    bytes = 0;
                }
                bytes += len;
                chunk.push(element);
            }
        }
        flush(&mut chunk, &mut self.commands);
        Ok(())
    }

    /// The batch as the bytes of one `sendmsg`: BATCH_BEGIN, the commands (sequence numbers
    /// 1.., an ACK requested for the last), BATCH_END. Returns the bytes and the last
    /// command's sequence number.
    pub fn encode(&self) -> (Vec<u8>, u32) {
        self.encode_from(0)
    }

    /// `encode` with sequence numbers from `base` (BATCH_BEGIN is `base`).
    fn encode_from(&self, base: u32) -> (Vec<u8>, u32) {
        let mut out = Vec::new();
        let mut push = |message: NfnlMessage, flags: u16, seq: u32| {
            let mut header = NetlinkHeader::default();
            header.flags = flags;
            header.sequence_number = seq;
            let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
            m.finalize();
            let start = out.len();
            out.resize(start + m.buffer_len(), 0);
            m.serialize(&mut out[start..]);
        };
        push(
            NfnlMessage::batch(NFNL_MSG_BATCH_BEGIN),
            NLM_F_REQUEST,
            base,
        );
        let last = base.wrapping_add(self.commands.len() as u32);
        for (i, c) in self.commands.iter().enumerate() {
            let seq = base.wrapping_add(i as u32 + 1);
            let mut flags = NLM_F_REQUEST | c.flags;
            if seq == last {
                flags |= NLM_F_ACK;
            }
            push(c.message.clone(), flags, seq);
        }
        push(
            NfnlMessage::batch(NFNL_MSG_BATCH_END),
            NLM_F_REQUEST,
            last + 1,
        );
        (out, last)
    }

    /// Sends the batch to the kernel of `netns` as one transaction: all of it, or (on any
    /// error) none of it. Returns the bytes sent. Opens a socket for this batch only; an agent
    /// keeps a `Session` instead.
    pub fn commit(&self, netns: &NetnsTarget) -> Result<usize, Error> {
        Session::default().commit(netns, self)
    }
}

/// A netlink socket opened once in a namespace and reused for every batch: a socket stays in
/// the namespace it was created in, whichever thread uses it later, so only opening it needs a
/// thread that enters the namespace. After a failed batch the socket is dropped (replies of
/// the aborted batch may still be queued) and the next batch opens a new one.
#[derive(Debug, Default)]
pub struct Session {
    socket: Option<Socket>,
    /// Sequence number of the next batch's BATCH_BEGIN.
    next_seq: u32,
}

impl Clone for Session {
    /// A clone opens its own socket (a `Socket` owns its file descriptor).
    fn clone(&self) -> Self {
        Session::default()
    }
}

impl Session {
    /// `Batch::commit` on this session's socket (opened in `netns` on first use).
    pub fn commit(&mut self, netns: &NetnsTarget, batch: &Batch) -> Result<usize, Error> {
        if batch.is_empty() {
            return Ok(0);
        }
        let fail = |(context, detail): (&str, String)| Error::Netlink {
            netns: netns.to_string(),
            context: context.to_string(),
            detail,
        };
        let (bytes, last) = batch.encode_from(self.next_seq);
        self.next_seq = last.wrapping_add(2);
        if self.socket.is_none() {
            self.socket = Some(open_socket(netns).map_err(fail)?);
        }
        let socket = self
            .socket
            .as_ref()
            .ok_or_else(|| fail(("socket", "not open".to_string())))?;
        match exchange(socket, &bytes, last) {
            Ok(()) => Ok(bytes.len()),
            Err(e) => {
                self.socket = None;
                Err(fail(e))
            }
        }
    }
}

type Failure = (&'static str, String);

/// A new nfnetlink socket in `netns` (created on a thread that enters it, for a named or
/// path namespace).
fn open_socket(netns: &NetnsTarget) -> Result<Socket, Failure> {
    let path: Option<PathBuf> = match netns {
        NetnsTarget::Current => None,
        NetnsTarget::Named(n) => Some(PathBuf::from("/run/netns").join(n)),
        NetnsTarget::Path(p) => Some(p.clone()),
    };
    let Some(path) = path else {
        return new_socket();
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path)
                .map_err(|e| ("opening the network namespace", e.to_string()))?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| ("entering the network namespace", e.to_string()))?;
            new_socket()
        })
        .join()
        .unwrap_or_else(|_| Err(("netlink thread", "panicked".to_string())))
    })
}

/// An nfnetlink socket of the current thread's namespace, with a reply timeout.
fn new_socket() -> Result<Socket, Failure> {
    let io = |context: &'static str| move |e: std::io::Error| (context, e.to_string());
    let mut socket = Socket::new(NETLINK_NETFILTER).map_err(io("socket"))?;
    socket.bind_auto().map_err(io("bind"))?;
    let timeout = nix::sys::time::TimeVal::new(REPLY_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
        .map_err(|e| ("setting the receive timeout", e.to_string()))?;
    Ok(socket)
}

/// Sends `bytes` (one batch) and reads the replies up to the one for sequence number `last`.
fn exchange(socket: &Socket, bytes: &[u8], last: u32) -> Result<(), Failure> {
    let io = |context: &'static str| move |e: std::io::Error| (context, e.to_string());
    // One batch is one message: the send buffer must hold all of it.
    let size = (bytes.len() * 2).max(1 << 20);
    nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::SndBufForce, &size)
        .map_err(|e| ("setting the send buffer", e.to_string()))?;
    let sent = socket
        .send_to(bytes, &SocketAddr::new(0, 0), 0)
        .map_err(io("sendmsg"))?;
    if sent != bytes.len() {
        return Err(("sendmsg", format!("sent {sent} of {} bytes", bytes.len())));
    }
    let mut errors: Vec<(u32, i32)> = Vec::new();
    loop {
        let (buf, _) = socket.recv_from_full().map_err(io("reading the replies"))?;
        let mut at = 0;
        let mut done = false;
        while at + 16 <= buf.len() {
            let Ok(msg) = NetlinkBuffer::new_checked(&buf[at..]) else {
                break;
            };
            let len = msg.length() as usize;
            if msg.message_type() == NLMSG_ERROR
                && let Ok(e) = ErrorBuffer::new_checked(msg.payload())
            {
                if let Some(code) = e.code() {
                    errors.push((msg.sequence_number(), code.get()));
                }
                done |= msg.sequence_number() == last;
            }
            at += (len + 3) & !3;
            if len == 0 {
                break;
            }
        }
        // After an error the kernel has aborted the batch: the other replies do not matter.
        if done || !errors.is_empty() {
            break;
        }
    }
    match errors.first() {
        None => Ok(()),
        Some((seq, code)) => Err((
            "the kernel refused the batch",
            format!(
                "message {seq} of {last}: {} (nothing was applied)",
                std::io::Error::from_raw_os_error(-code)
            ),
        )),
    }
}
