//! Servers of a Pod (or Node, or external): TCP and SCTP accept, greet with the client address
//! they saw and echo; UDP answers every datagram with the greeting and the datagram.

use super::client::GREETING;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::thread;
use std::time::Duration;

const IDLE: Duration = Duration::from_secs(30);

/// Binds every port (an error names the first that fails), then serves on background threads.
pub fn start(tcp: &[u16], udp: &[u16], sctp: &[u16]) -> Result<(), String> {
    let mut tcp_listeners = Vec::new();
    for &port in tcp {
        let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
            .map_err(|e| format!("bind TCP port {port}: {e}"))?;
        tcp_listeners.push(l);
    }
    let mut udp_sockets = Vec::new();
    for &port in udp {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))
            .map_err(|e| format!("bind UDP port {port}: {e}"))?;
        udp_sockets.push(s);
    }
    let mut sctp_listeners = Vec::new();
    for &port in sctp {
        sctp_listeners
            .push(sctp_listener(port).map_err(|e| format!("bind SCTP port {port}: {e}"))?);
    }
    for l in tcp_listeners {
        spawn(move || {
            for conn in l.incoming().flatten() {
                let Ok(peer) = conn.peer_addr() else { continue };
                let _ = conn.set_read_timeout(Some(IDLE));
                spawn(move || converse(conn, peer));
            }
        });
    }
    for s in udp_sockets {
        spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, peer)) = s.recv_from(&mut buf) {
                let mut answer = format!("{GREETING}{peer}\n").into_bytes();
                answer.extend_from_slice(&buf[..n.min(1024)]);
                let _ = s.send_to(&answer, peer);
            }
        });
    }
    for l in sctp_listeners {
        spawn(move || {
            while let Ok((conn, peer)) = l.accept() {
                let Some(peer) = peer.as_socket() else {
                    continue;
                };
                let _ = conn.set_read_timeout(Some(IDLE));
                spawn(move || converse(conn, peer));
            }
        });
    }
    Ok(())
}

fn sctp_listener(port: u16) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(132)))?;
    s.set_reuse_address(true)?;
    s.bind(&SockAddr::from(SocketAddr::from((
        Ipv4Addr::UNSPECIFIED,
        port,
    ))))?;
    s.listen(128)?;
    Ok(s)
}

fn spawn(f: impl FnOnce() + Send + 'static) {
    // Out of threads: the connection is simply not served.
    let _ = thread::Builder::new().stack_size(64 * 1024).spawn(f);
}

/// Greets with the client address, then echoes until EOF, an error or 30 s of silence.
fn converse<S: Read + Write>(mut conn: S, peer: SocketAddr) {
    if conn
        .write_all(format!("{GREETING}{peer}\n").as_bytes())
        .is_err()
    {
        return;
    }
    let mut buf = [0u8; 2048];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 || conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}
