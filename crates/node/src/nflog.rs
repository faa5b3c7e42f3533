//! NFLOG reader: binds an NFLOG group in a network namespace and yields the logged packets
//! (prefix, IP header fields, timestamp). The socket is created on a dedicated OS thread that
//! first enters the namespace (`setns`), so it belongs to that namespace for its whole life;
//! the thread then keeps reading and sends events over a channel.

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{
    ConfigCmd, ConfigFlags, ConfigMode, PacketNla, Timeout, ULogMessage, config_request,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::{Socket, constants::NETLINK_NETFILTER};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// Errors of the NFLOG reader.
#[derive(Debug, thiserror::Error)]
pub enum NflogError {
    #[error("entering network namespace {netns}: {source}")]
    Netns {
        netns: String,
        source: std::io::Error,
    },
    #[error("NFLOG socket in {netns}: {context}: {source}")]
    Socket {
        netns: String,
        context: &'static str,
        source: std::io::Error,
    },
    #[error("NFLOG {context} in {netns} rejected by the kernel: error {code}")]
    Kernel {
        netns: String,
        context: &'static str,
        code: i32,
    },
}

/// One logged packet as NFLOG delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NflogPacket {
    /// The log prefix of the rule that logged it.
    pub prefix: String,
    pub src_ip: IpAddr,
    pub dst_ip: IpAddr,
    pub protocol: u8,
    /// IP total length.
    pub length: u32,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

/// Parses the IPv4 header (and TCP/UDP/SCTP ports) of an NFLOG payload.
pub fn parse_ipv4(prefix: &str, payload: &[u8]) -> Option<NflogPacket> {
    if payload.len() < 20 || payload[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(payload[0] & 0x0f) * 4;
    let length = u32::from(u16::from_be_bytes([payload[2], payload[3]]));
    let protocol = payload[9];
    let src = Ipv4Addr::new(payload[12], payload[13], payload[14], payload[15]);
    let dst = Ipv4Addr::new(payload[16], payload[17], payload[18], payload[19]);
    let ports = matches!(protocol, 6 | 17 | 132)
        .then(|| payload.get(ihl..ihl + 4))
        .flatten()
        .map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            )
        });
    Some(NflogPacket {
        prefix: prefix.to_string(),
        src_ip: IpAddr::V4(src),
        dst_ip: IpAddr::V4(dst),
        protocol,
        length,
        src_port: ports.map(|p| p.0),
        dst_port: ports.map(|p| p.1),
    })
}

fn send_config(
    socket: &Socket,
    netns: &str,
    context: &'static str,
    msg: NetlinkMessage<NetfilterMessage>,
) -> Result<(), NflogError> {
    let mut buf = vec![0; msg.header.length as usize];
    msg.serialize(&mut buf[..]);
    socket
        .send(&buf[..], 0)
        .map_err(|source| NflogError::Socket {
            netns: netns.into(),
            context,
            source,
        })?;
    let mut rx = vec![0; 4096];
    let n = socket
        .recv(&mut &mut rx[..], 0)
        .map_err(|source| NflogError::Socket {
            netns: netns.into(),
            context,
            source,
        })?;
    if let Ok(reply) = <NetlinkMessage<NetfilterMessage>>::deserialize(&rx[..n])
        && let NetlinkPayload::Error(e) = reply.payload
        && let Some(code) = e.code
    {
        return Err(NflogError::Kernel {
            netns: netns.into(),
            context,
            code: code.get(),
        });
    }
    Ok(())
}

/// How often an idle reader thread looks whether its receiver is still there.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// The receiving end of a reader thread: a channel receiver (it derefs to
/// `mpsc::Receiver<T>`). Dropping it ends the thread and closes its socket within
/// `IDLE_CHECK`, even when no packet comes (a Node that left the cluster).
#[derive(Debug)]
pub struct NflogReceiver<T> {
    rx: mpsc::Receiver<T>,
    alive: Arc<AtomicBool>,
}

impl<T> std::ops::Deref for NflogReceiver<T> {
    type Target = mpsc::Receiver<T>;
    fn deref(&self) -> &mpsc::Receiver<T> {
        &self.rx
    }
}

impl<T> Drop for NflogReceiver<T> {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Relaxed);
    }
}

/// Opens an NFLOG group socket in `netns` (a name under /run/netns, or `None` for the current
/// namespace) and starts a reader thread. Packets arrive on the returned channel until the
/// receiver is dropped.
pub fn spawn_reader(
    netns: Option<&str>,
    group: u16,
) -> Result<NflogReceiver<NflogPacket>, NflogError> {
    spawn_converting(netns, group, parse_ipv4)
}

/// One logged packet whole: the log prefix and the packet from its IP header on (NFLOG copies
/// the entire packet: the reader asks for copy mode "packet" without a range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NflogCopy {
    pub prefix: String,
    pub packet: Vec<u8>,
}

/// Like [`spawn_reader`], but hands over whole packets (for readers of the payload, such as
/// the DNS snooper).
pub fn spawn_copy_reader(
    netns: Option<&str>,
    group: u16,
) -> Result<NflogReceiver<NflogCopy>, NflogError> {
    spawn_converting(netns, group, |prefix, packet| {
        Some(NflogCopy {
            prefix: prefix.to_string(),
            packet: packet.to_vec(),
        })
    })
}

/// The reader thread of [`spawn_reader`] with `convert` turning (prefix, packet) into what is
/// sent on the channel (`None`: skipped).
fn spawn_converting<T: Send + 'static>(
    netns: Option<&str>,
    group: u16,
    convert: impl Fn(&str, &[u8]) -> Option<T> + Send + 'static,
) -> Result<NflogReceiver<T>, NflogError> {
    let netns_name = netns.unwrap_or("<current>").to_string();
    let alive = Arc::new(AtomicBool::new(true));
    let reader_alive = alive.clone();
    let ns_path = netns.map(|n| format!("/run/netns/{n}"));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), NflogError>>();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("nflog-{netns_name}"))
        .spawn(move || {
            let setup = (|| -> Result<Socket, NflogError> {
                if let Some(path) = &ns_path {
                    let f = std::fs::File::open(path).map_err(|source| NflogError::Netns {
                        netns: netns_name.clone(),
                        source,
                    })?;
                    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                        NflogError::Netns {
                            netns: netns_name.clone(),
                            source: std::io::Error::from(e),
                        }
                    })?;
                }
                let mut socket =
                    Socket::new(NETLINK_NETFILTER).map_err(|source| NflogError::Socket {
                        netns: netns_name.clone(),
                        context: "create",
                        source,
                    })?;
                socket.bind_auto().map_err(|source| NflogError::Socket {
                    netns: netns_name.clone(),
                    context: "bind",
                    source,
                })?;
                // Wake up now and then to see whether the receiver is gone.
                let idle = nix::sys::time::TimeVal::new(0, IDLE_CHECK.as_micros() as i64);
                nix::sys::socket::setsockopt(
                    &socket,
                    nix::sys::socket::sockopt::ReceiveTimeout,
                    &idle,
                )
                .map_err(|e| NflogError::Socket {
                    netns: netns_name.clone(),
                    context: "receive timeout",
                    source: std::io::Error::from(e),
                })?;
                send_config(
                    &socket,
                    &netns_name,
                    "PfBind",
                    config_request(
                        NetfilterProtoFamily::IPv4,
                        0,
                        vec![ConfigCmd::PfBind.into()],
                    ),
                )?;
                let timeout: Timeout = Duration::from_millis(50).into();
                send_config(
                    &socket,
                    &netns_name,
                    "Bind",
                    config_request(
                        NetfilterProtoFamily::IPv4,
                        group,
                        vec![
                            ConfigCmd::Bind.into(),
                            ConfigFlags::SEQ_GLOBAL.into(),
                            ConfigMode::PACKET_MAX.into(),
                            timeout.into(),
                        ],
                    ),
                )?;
                Ok(socket)
            })();
            let socket = match setup {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut buf = vec![0u8; 65536];
            while reader_alive.load(Ordering::Relaxed) {
                let size = match socket.recv(&mut &mut buf[..], 0) {
                    Ok(size) => size,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::Interrupted
                        ) =>
                    {
                        continue;
                    }
                    Err(_) => break,
                };
                let mut offset = 0;
                while offset < size {
                    let Ok(msg) =
                        <NetlinkMessage<NetfilterMessage>>::deserialize(&buf[offset..size])
                    else {
                        break;
                    };
                    let len = msg.header.length as usize;
                    if let NetlinkPayload::InnerMessage(NetfilterMessage {
                        inner: NetfilterMessageInner::ULog(ULogMessage::Packet(nlas)),
                        ..
                    }) = &msg.payload
                    {
                        let prefix = nlas.iter().find_map(|n| match n {
                            PacketNla::Prefix(p) => Some(p.to_string_lossy().into_owned()),
                            _ => None,
                        });
                        let payload = nlas.iter().find_map(|n| match n {
                            PacketNla::Payload(p) => Some(p.as_slice()),
                            _ => None,
                        });
                        if let (Some(prefix), Some(payload)) = (prefix, payload)
                            && let Some(p) = convert(&prefix, payload)
                            && tx.send(p).is_err()
                        {
                            return;
                        }
                    }
                    if len == 0 {
                        break;
                    }
                    offset += len;
                }
            }
        })
        .map_err(|source| NflogError::Socket {
            netns: netns.unwrap_or("<current>").into(),
            context: "thread",
            source,
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(NflogReceiver { rx, alive }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(NflogError::Socket {
            netns: netns.unwrap_or("<current>").into(),
            context: "thread",
            source: std::io::Error::other("reader thread ended during setup"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_tcp_syn_header() {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&60u16.to_be_bytes());
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 10, 1, 11]);
        p[16..20].copy_from_slice(&[10, 10, 2, 12]);
        p[20..22].copy_from_slice(&53646u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        let got = parse_ipv4("r1", &p).unwrap();
        assert_eq!(got.src_port, Some(53646));
        assert_eq!(got.dst_port, Some(80));
        assert_eq!(got.length, 60);
        assert_eq!(got.dst_ip, "10.10.2.12".parse::<IpAddr>().unwrap());
        assert!(parse_ipv4("r1", &p[..10]).is_none());
    }
}
