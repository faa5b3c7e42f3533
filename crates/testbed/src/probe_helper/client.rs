//! Probe clients, run inside the source netns: TCP, UDP, SCTP and ICMP echo.
//!
//! | transport | Connected | Rejected | Dropped |
//! |---|---|---|---|
//! | TCP, SCTP | handshake done | RST/ABORT (`ECONNREFUSED`), ICMP unreachable codes 2, 3, 9, 10, 13 | timeout, ICMP net/host unreachable, `EPERM` (dropped by a local output rule) |
//! | UDP | the server's echo | ICMP port unreachable (`ECONNREFUSED`) or codes 2, 9, 10, 13 | timeout, ICMP net/host unreachable, `EPERM` |
//! | ICMP | echo reply from the destination | destination unreachable codes 2, 3, 9, 10, 13 | timeout, other unreachables |
//!
//! A raw ICMP socket opened before each TCP/UDP/SCTP attempt captures the ICMP error that caused
//! a socket error (`EHOSTUNREACH` means either "host unreachable" or "administratively
//! prohibited"; the ICMP code tells them apart).

use super::icmp;
use crate::probe::{ProbeResult, Transport};
use nix::errno::Errno;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};
use tierwall_engine::Outcome;

/// Start of every server greeting / UDP answer: `tierwall-testbed saw <client ip:port>`.
pub const GREETING: &str = "tierwall-testbed saw ";

const SCTP: i32 = 132;

/// Result of a probe that could not even be attempted (a socket could not be created).
#[derive(Debug)]
pub struct ProbeError(pub String);

/// Runs one probe.
pub fn run(
    dst: IpAddr,
    transport: Transport,
    timeout: Duration,
) -> Result<ProbeResult, ProbeError> {
    match transport {
        Transport::Tcp(port) => stream(dst, port, Protocol::TCP, "TCP", timeout),
        Transport::Sctp(port) => stream(dst, port, Protocol::from(SCTP), "SCTP", timeout),
        Transport::Udp(port) => udp(dst, port, timeout),
        Transport::Icmp => match dst {
            IpAddr::V4(v4) => ping(v4, timeout),
            IpAddr::V6(_) => Err(ProbeError("ICMP probes are IPv4 only".into())),
        },
    }
}

fn result(outcome: Outcome, detail: String) -> ProbeResult {
    ProbeResult {
        outcome,
        detail,
        server_saw: None,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A raw ICMP socket that sees the ICMP errors coming back to this netns.
struct Sniffer(Option<Socket>);

impl Sniffer {
    fn open(dst: IpAddr) -> Sniffer {
        if !dst.is_ipv4() {
            return Sniffer(None);
        }
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
            .and_then(|s| s.set_nonblocking(true).map(|()| s));
        Sniffer(sock.ok())
    }

    /// The verdict of a destination-unreachable message about our packet
    /// (`proto`, `local_port` -> `dst:port`), if one arrived.
    fn find(
        &self,
        proto: u8,
        dst: IpAddr,
        local_port: u16,
        port: u16,
    ) -> Option<(Outcome, String)> {
        let sock = self.0.as_ref()?;
        let IpAddr::V4(dst) = dst else { return None };
        let deadline = Instant::now() + Duration::from_millis(5);
        let mut buf = [0u8; 1500];
        loop {
            match (&*sock).read(&mut buf) {
                Ok(n) => {
                    if let Some(m) = icmp::parse(&buf[..n])
                        && m.icmp_type == icmp::DEST_UNREACHABLE
                        && m.inner_ports() == Some((proto, dst, local_port, port))
                    {
                        return Some(m.unreachable_verdict());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return None,
            }
        }
    }
}

/// Turns a socket error into an outcome (an ICMP error seen by the sniffer decides first).
fn classify(
    err: &io::Error,
    icmp: Option<(Outcome, String)>,
    refused: &str,
    timeout: Duration,
) -> ProbeResult {
    if let Some((outcome, detail)) = icmp {
        return result(outcome, format!("{detail} ({err})"));
    }
    if matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        return result(
            Outcome::Dropped,
            format!("no answer within {}", ms(timeout)),
        );
    }
    let errno = err.raw_os_error().map(Errno::from_raw);
    match errno {
        Some(Errno::ECONNREFUSED) => result(Outcome::Rejected, refused.to_string()),
        Some(Errno::EACCES) => result(
            Outcome::Rejected,
            format!("prohibited before leaving the source ({err})"),
        ),
        Some(Errno::EPERM) => result(
            Outcome::Dropped,
            format!("dropped by a rule of the source netns ({err})"),
        ),
        Some(Errno::ETIMEDOUT) | Some(Errno::EAGAIN) => result(
            Outcome::Dropped,
            format!("no answer within {}", ms(timeout)),
        ),
        Some(Errno::EHOSTUNREACH) | Some(Errno::ENETUNREACH) => result(
            Outcome::Dropped,
            format!("unreachable, no ICMP error seen ({err})"),
        ),
        _ => result(Outcome::Dropped, format!("error: {err}")),
    }
}

fn bind_any(sock: &Socket, dst: IpAddr) -> io::Result<u16> {
    let any: SocketAddr = match dst {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    sock.bind(&any.into())?;
    Ok(sock
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .unwrap_or(0))
}

fn parse_greeting(data: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(data).ok()?;
    let rest = text.strip_prefix(GREETING)?;
    rest.split_whitespace().next()?.parse().ok()
}

fn stream(
    dst: IpAddr,
    port: u16,
    protocol: Protocol,
    name: &str,
    timeout: Duration,
) -> Result<ProbeResult, ProbeError> {
    let addr = SocketAddr::new(dst, port);
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(protocol))
        .map_err(|e| ProbeError(format!("cannot create a {name} socket: {e}")))?;
    let local_port = bind_any(&sock, dst).map_err(|e| ProbeError(format!("bind: {e}")))?;
    let sniffer = Sniffer::open(dst);
    let start = Instant::now();
    let proto_num = if name == "SCTP" { SCTP as u8 } else { 6 };
    match sock.connect_timeout(&SockAddr::from(addr), timeout) {
        Ok(()) => {
            let took = start.elapsed();
            // The server greets with the client address it saw.
            let wait = timeout
                .saturating_sub(took)
                .clamp(Duration::from_millis(50), Duration::from_millis(500));
            let mut buf = [0u8; 256];
            let _ = sock.set_read_timeout(Some(wait));
            let server_saw = match (&sock).read(&mut buf) {
                Ok(n) => parse_greeting(&buf[..n]),
                Err(_) => None,
            };
            Ok(ProbeResult {
                outcome: Outcome::Connected,
                detail: format!("{name} connected to {addr} in {}", ms(took)),
                server_saw,
            })
        }
        Err(e) => {
            let icmp = sniffer.find(proto_num, dst, local_port, port);
            let refused = if name == "SCTP" {
                "connection refused (SCTP ABORT)"
            } else {
                "connection refused (TCP RST)"
            };
            Ok(classify(&e, icmp, refused, timeout))
        }
    }
}

fn udp(dst: IpAddr, port: u16, timeout: Duration) -> Result<ProbeResult, ProbeError> {
    let addr = SocketAddr::new(dst, port);
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| ProbeError(format!("cannot create a UDP socket: {e}")))?;
    let local_port = bind_any(&sock, dst).map_err(|e| ProbeError(format!("bind: {e}")))?;
    let sniffer = Sniffer::open(dst);
    let refused = "ICMP port unreachable (connection refused)";
    sock.connect(&SockAddr::from(addr))
        .map_err(|e| ProbeError(format!("connect: {e}")))?;
    let start = Instant::now();
    if let Err(e) = sock.send(b"tierwall-testbed probe\n") {
        let icmp = sniffer.find(17, dst, local_port, port);
        return Ok(classify(&e, icmp, refused, timeout));
    }
    let _ = sock.set_read_timeout(Some(timeout));
    let mut buf = [0u8; 2048];
    match (&sock).read(&mut buf) {
        Ok(n) => Ok(ProbeResult {
            outcome: Outcome::Connected,
            detail: format!("UDP answer from {addr} in {}", ms(start.elapsed())),
            server_saw: parse_greeting(&buf[..n]),
        }),
        Err(e) => {
            let icmp = sniffer.find(17, dst, local_port, port);
            Ok(classify(&e, icmp, refused, timeout))
        }
    }
}

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

fn echo_id() -> u16 {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    (std::process::id() as u16)
        .wrapping_mul(40503)
        .wrapping_add(n.wrapping_mul(7919))
}

fn ping(dst: Ipv4Addr, timeout: Duration) -> Result<ProbeResult, ProbeError> {
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
        .map_err(|e| ProbeError(format!("cannot create a raw ICMP socket: {e}")))?;
    let id = echo_id();
    let seq = 1;
    let start = Instant::now();
    let to = SockAddr::from(SocketAddrV4::new(dst, 0));
    if let Err(e) = sock.send_to(&icmp::echo_request(id, seq), &to) {
        return Ok(classify(&e, None, "refused", timeout));
    }
    let mut buf = [0u8; 1500];
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        let _ = sock.set_read_timeout(Some(left));
        let n = match (&sock).read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => return Ok(classify(&e, None, "refused", timeout)),
        };
        let Some(m) = icmp::parse(&buf[..n]) else {
            continue;
        };
        match m.icmp_type {
            icmp::ECHO_REPLY if m.from == dst && m.echo_id_seq() == Some((id, seq)) => {
                return Ok(result(
                    Outcome::Connected,
                    format!("echo reply from {dst} in {}", ms(start.elapsed())),
                ));
            }
            icmp::DEST_UNREACHABLE => {
                if let Some((1, _, inner_dst, l4)) = m.inner()
                    && inner_dst == dst
                    && l4.len() >= 6
                    && l4[0] == icmp::ECHO_REQUEST
                    && u16::from_be_bytes([l4[4], l4[5]]) == id
                {
                    let (outcome, detail) = m.unreachable_verdict();
                    return Ok(result(outcome, detail));
                }
            }
            _ => {}
        }
    }
    Ok(result(
        Outcome::Dropped,
        format!("no echo reply within {}", ms(timeout)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_parses() {
        assert_eq!(
            parse_greeting(b"tierwall-testbed saw 192.168.100.7:40000\n"),
            Some("192.168.100.7:40000".parse().unwrap())
        );
        assert_eq!(parse_greeting(b"hello"), None);
    }

    #[test]
    fn errors_classify() {
        let t = Duration::from_millis(1000);
        let refused = io::Error::from_raw_os_error(Errno::ECONNREFUSED as i32);
        assert_eq!(
            classify(&refused, None, "rst", t).outcome,
            Outcome::Rejected
        );
        let eperm = io::Error::from_raw_os_error(Errno::EPERM as i32);
        assert_eq!(classify(&eperm, None, "rst", t).outcome, Outcome::Dropped);
        let unreach = io::Error::from_raw_os_error(Errno::EHOSTUNREACH as i32);
        assert_eq!(classify(&unreach, None, "rst", t).outcome, Outcome::Dropped);
        let seen = Some((Outcome::Rejected, "ICMP code 13".to_string()));
        assert_eq!(
            classify(&unreach, seen, "rst", t).outcome,
            Outcome::Rejected
        );
        let timeout = io::Error::from(io::ErrorKind::TimedOut);
        let r = classify(&timeout, None, "rst", t);
        assert_eq!(r.outcome, Outcome::Dropped);
        assert!(r.detail.contains("1000.0 ms"));
    }
}
