//! Real sockets inside network namespaces: a socket created on a thread that entered a
//! namespace (`setns`) belongs to that namespace for its whole life, so only creation runs on
//! such a (short-lived, dedicated) thread; I/O happens on ordinary threads. No `unsafe`.
//!
//! ```text
//!  in_netns(ns, || bind/connect) ──> socket of ns ──> echo server threads / probe results
//!  Probe: TCP connect → Connected | Rejected (RST: ECONNREFUSED) | Dropped (timeout)
//!         UDP send+recv → Connected | Rejected(ICMP type, code via IP_RECVERR) | Dropped
//! ```

#![allow(dead_code)]

use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, setsockopt, sockopt};
use std::fs::File;
use std::io::{ErrorKind, IoSliceMut, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// Runs `f` on a fresh OS thread inside the named network namespace.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
    .join()
    .expect("netns thread")
}

/// Echo servers; stopped (threads end, sockets close) when dropped.
pub struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Servers {
    pub fn new() -> Servers {
        Servers {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        }
    }

    /// TCP echo servers on `addr` ports, UDP echo servers on `udp` ports, in namespace `ns`.
    pub fn serve(&mut self, ns: &str, ip: &str, tcp: &[u16], udp: &[u16]) {
        for &port in tcp {
            let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
            let l = in_netns(ns, move || TcpListener::bind(addr)).expect("bind tcp");
            l.set_nonblocking(true).unwrap();
            let stop = self.stop.clone();
            self.threads.push(thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((s, _)) => {
                            let stop = stop.clone();
                            thread::spawn(move || echo_tcp(s, stop));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            }));
        }
        for &port in udp {
            let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
            let s = in_netns(ns, move || UdpSocket::bind(addr)).expect("bind udp");
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let stop = self.stop.clone();
            self.threads.push(thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = s.recv_from(&mut buf) {
                        let _ = s.send_to(&buf[..n], from);
                    }
                }
            }));
        }
    }
}

fn echo_tcp(mut s: TcpStream, stop: Arc<AtomicBool>) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// What a probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Connected,
    /// TCP RST (connection refused).
    Refused,
    /// ICMP error with this (type, code).
    Icmp(u8, u8),
    /// Nothing came back in time.
    Timeout,
}

/// How long a probe waits before calling the packet dropped.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(700);

/// TCP connect from namespace `ns` to `addr`, then one echo round trip.
pub fn tcp_probe(ns: &str, addr: &str) -> Seen {
    match tcp_connect(ns, addr) {
        Ok(mut s) => {
            if echo_round_trip(&mut s) {
                Seen::Connected
            } else {
                Seen::Timeout
            }
        }
        Err(seen) => seen,
    }
}

/// An open TCP connection from `ns` (for the stateful test), or what stopped it.
pub fn tcp_connect(ns: &str, addr: &str) -> Result<TcpStream, Seen> {
    let addr: SocketAddr = addr.parse().unwrap();
    in_netns(ns, move || TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)).map_err(|e| {
        match e.kind() {
            ErrorKind::ConnectionRefused => Seen::Refused,
            _ => Seen::Timeout,
        }
    })
}

/// Sends a line and reads it back.
pub fn echo_round_trip(s: &mut TcpStream) -> bool {
    let _ = s.set_read_timeout(Some(PROBE_TIMEOUT));
    if s.write_all(b"hello\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 6];
    s.read_exact(&mut buf).is_ok() && &buf == b"hello\n"
}

/// UDP datagram from `ns` to `addr`; an echo is Connected, an ICMP error is read from the
/// socket's error queue (IP_RECVERR) with its type and code.
pub fn udp_probe(ns: &str, addr: &str) -> Seen {
    let addr: SocketAddr = addr.parse().unwrap();
    let s = in_netns(ns, || UdpSocket::bind("0.0.0.0:0")).expect("bind udp client");
    s.connect(addr).unwrap();
    setsockopt(&s, sockopt::Ipv4RecvErr, &true).unwrap();
    s.set_read_timeout(Some(PROBE_TIMEOUT)).unwrap();
    s.send(b"ping").unwrap();
    let mut buf = [0u8; 64];
    match s.recv(&mut buf) {
        Ok(n) if &buf[..n] == b"ping" => Seen::Connected,
        Ok(_) => Seen::Timeout,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Seen::Timeout,
        Err(_) => icmp_error(&s).unwrap_or(Seen::Timeout),
    }
}

fn icmp_error(s: &UdpSocket) -> Option<Seen> {
    let mut data = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut cmsg = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in);
    let msg = recvmsg::<SockaddrIn>(
        s.as_raw_fd(),
        &mut iov,
        Some(cmsg.as_mut_slice()),
        MsgFlags::MSG_ERRQUEUE,
    )
    .ok()?;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::Ipv4RecvErr(err, _) = c {
            return Some(Seen::Icmp(err.ee_type, err.ee_code));
        }
    }
    None
}
