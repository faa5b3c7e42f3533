//! DNS snooping for FQDN rules: the Node's base chains copy every DNS answer on its way to a
//! local Pod to NFLOG group [`DNS_ANSWER_LOG_GROUP`] (UDP datagrams and TCP segments from port
//! 53); [`AnswerParser`] turns those packets back into DNS answers (TCP streams reassembled,
//! RFC 1035 §4.2.2 framing) and [`decode_answer`] into name → address mappings (A and AAAA
//! records, CNAME chains followed); [`DnsSnooper`] runs one reader per Node and keeps the
//! mappings in an [`FqdnCache`].
//!
//! ```text
//!  node netns: oifname @pod_ifaces meta l4proto {tcp,udp} th sport 53 log group 53
//!     └─NFLOG─> nflog::spawn_copy_reader ─> AnswerParser ─> SnoopedAnswer ─> FqdnCache
//!                                                            └─> seen answers (waiters)
//! ```

use crate::dns_answer::{DecodedAnswer, decode_answer};
use crate::fqdn_cache::{FqdnCache, FqdnCacheOptions};
use crate::nflog::{self, NflogError};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// NFLOG group of the DNS answer copies (the dataplane's base chains log to it).
pub const DNS_ANSWER_LOG_GROUP: u16 = 53;
/// Log prefix of the DNS answer copies.
pub const DNS_ANSWER_LOG_PREFIX: &str = "tierwall-dns";
/// TCP streams tracked at once; a stream silent this long is forgotten.
const MAX_STREAMS: usize = 1024;
const STREAM_IDLE: Duration = Duration::from_secs(30);
/// Answers remembered for [`DnsSnooper::wait_for_answer`].
const SEEN_ANSWERS: usize = 4096;

/// Transport of a snooped answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsTransport {
    Udp,
    Tcp,
}

/// One DNS answer on its way to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnoopedAnswer {
    pub client: IpAddr,
    pub client_port: u16,
    pub server: IpAddr,
    pub transport: DnsTransport,
    pub answer: DecodedAnswer,
}

/// A TCP stream from a server to a client: (server, server port, client, client port).
type StreamKey = (Ipv4Addr, u16, Ipv4Addr, u16);

#[derive(Debug)]
struct Stream {
    next_seq: u32,
    buf: Vec<u8>,
    last_seen: Instant,
}

/// Turns copied packets (IPv4 header on) into DNS answers; keeps the TCP streams.
#[derive(Debug, Default)]
pub struct AnswerParser {
    streams: HashMap<StreamKey, Stream>,
    /// Packets that carried no decodable answer (not DNS, a TCP segment out of order, ...).
    pub undecodable: u64,
}

impl AnswerParser {
    pub fn new() -> Self {
        AnswerParser::default()
    }

    /// The answers completed by this packet (none for a TCP segment in the middle of one).
    pub fn packet(&mut self, packet: &[u8], now: Instant) -> Vec<SnoopedAnswer> {
        let Some(ip) = Ipv4Packet::parse(packet) else {
            self.undecodable += 1;
            return Vec::new();
        };
        match ip.protocol {
            17 => self.udp(&ip),
            6 => self.tcp(&ip, now),
            _ => {
                self.undecodable += 1;
                Vec::new()
            }
        }
    }

    fn udp(&mut self, ip: &Ipv4Packet<'_>) -> Vec<SnoopedAnswer> {
        let l4 = ip.payload;
        if l4.len() < 8 {
            self.undecodable += 1;
            return Vec::new();
        }
        let (_, dport) = ports(l4);
        match decode_answer(&l4[8..]) {
            Some(answer) => vec![SnoopedAnswer {
                client: IpAddr::V4(ip.dst),
                client_port: dport,
                server: IpAddr::V4(ip.src),
                transport: DnsTransport::Udp,
                answer,
            }],
            None => {
                self.undecodable += 1;
                Vec::new()
            }
        }
    }

    fn tcp(&mut self, ip: &Ipv4Packet<'_>, now: Instant) -> Vec<SnoopedAnswer> {
        let l4 = ip.payload;
        if l4.len() < 20 {
            self.undecodable += 1;
            return Vec::new();
        }
        let (sport, dport) = ports(l4);
        let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
        let data_offset = usize::from(l4[12] >> 4) * 4;
        let flags = l4[13];
        let (fin, syn, rst) = (flags & 0x01 != 0, flags & 0x02 != 0, flags & 0x04 != 0);
        let key = (ip.src, sport, ip.dst, dport);
        let data = l4.get(data_offset..).unwrap_or_default();
        self.streams
            .retain(|_, s| now.duration_since(s.last_seen) < STREAM_IDLE);
        if syn {
            // The SYN-ACK: data starts at seq + 1.
            self.new_stream(key, seq.wrapping_add(1), now);
        }
        let mut out = Vec::new();
        if !data.is_empty() {
            if !self.streams.contains_key(&key) {
                self.new_stream(key, seq, now);
            }
            // Taken out while it is worked on; put back unless it has to be given up.
            let Some(mut stream) = self.streams.remove(&key) else {
                return out;
            };
            stream.last_seen = now;
            let behind = stream.next_seq.wrapping_sub(seq) as i32;
            if behind < 0 {
                // A gap (a segment we never saw): the stream cannot be followed any more.
                self.undecodable += 1;
                return out;
            }
            let behind = behind as usize;
            if behind < data.len() {
                stream.buf.extend_from_slice(&data[behind..]);
                stream.next_seq = seq.wrapping_add(data.len() as u32);
            }
            // Every complete length-prefixed message in the buffer.
            while stream.buf.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([stream.buf[0], stream.buf[1]]));
                if stream.buf.len() < 2 + len {
                    break;
                }
                let message: Vec<u8> = stream.buf.drain(..2 + len).skip(2).collect();
                match decode_answer(&message) {
                    Some(answer) => out.push(SnoopedAnswer {
                        client: IpAddr::V4(ip.dst),
                        client_port: dport,
                        server: IpAddr::V4(ip.src),
                        transport: DnsTransport::Tcp,
                        answer,
                    }),
                    None => {
                        // Not DNS after all: stop following this stream.
                        self.undecodable += 1;
                        return out;
                    }
                }
            }
            self.streams.insert(key, stream);
        }
        if fin || rst {
            self.streams.remove(&key);
        }
        out
    }

    fn new_stream(&mut self, key: StreamKey, next_seq: u32, now: Instant) {
        if self.streams.len() >= MAX_STREAMS
            && let Some(oldest) = self
                .streams
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k)
        {
            self.streams.remove(&oldest);
        }
        self.streams.insert(
            key,
            Stream {
                next_seq,
                buf: Vec::new(),
                last_seen: now,
            },
        );
    }
}

fn ports(l4: &[u8]) -> (u16, u16) {
    (
        u16::from_be_bytes([l4[0], l4[1]]),
        u16::from_be_bytes([l4[2], l4[3]]),
    )
}

/// The fields of an IPv4 packet the parser needs.
struct Ipv4Packet<'a> {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    payload: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    fn parse(p: &'a [u8]) -> Option<Self> {
        if p.len() < 20 || p[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
        // A fragment other than the first carries no header to read.
        let fragment_offset = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
        if ihl < 20 || total < ihl || fragment_offset != 0 {
            return None;
        }
        Some(Ipv4Packet {
            src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
            dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
            protocol: p[9],
            payload: &p[ihl..total],
        })
    }
}

/// An answer the snooper has taken into its cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    client: IpAddr,
    client_port: u16,
    id: u16,
}

#[derive(Debug)]
struct Shared {
    cache: Mutex<FqdnCache>,
    seen: Mutex<VecDeque<Seen>>,
    arrived: Condvar,
    answers: std::sync::atomic::AtomicU64,
}

/// The DNS snooping of a cluster: one NFLOG reader per Node netns ([`DnsSnooper::watch`]),
/// all feeding one [`FqdnCache`].
#[derive(Debug, Clone)]
pub struct DnsSnooper {
    shared: Arc<Shared>,
}

/// A running reader; dropping it stops taking answers from its Node.
#[derive(Debug)]
pub struct SnoopWatch {
    stop: Arc<AtomicBool>,
}

impl Drop for SnoopWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl DnsSnooper {
    pub fn new(options: FqdnCacheOptions) -> Self {
        DnsSnooper {
            shared: Arc::new(Shared {
                cache: Mutex::new(FqdnCache::new(options)),
                seen: Mutex::new(VecDeque::new()),
                arrived: Condvar::new(),
                answers: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Starts reading the DNS answer copies of the Node netns `netns`.
    pub fn watch(&self, netns: &str) -> Result<SnoopWatch, NflogError> {
        self.watch_in(Some(netns))
    }

    /// Starts reading the DNS answer copies of the Node netns `netns` (`None`: the caller's own
    /// network namespace, as the agent of a real Node runs).
    pub fn watch_in(&self, netns: Option<&str>) -> Result<SnoopWatch, NflogError> {
        let rx = nflog::spawn_copy_reader(netns, DNS_ANSWER_LOG_GROUP)?;
        let netns = netns.unwrap_or("host");
        let stop = Arc::new(AtomicBool::new(false));
        let shared = self.shared.clone();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name(format!("dns-snoop-{netns}"))
            .spawn(move || {
                let mut parser = AnswerParser::new();
                while !stopped.load(Ordering::Relaxed) {
                    let copy = match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(c) => c,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return,
                    };
                    if copy.prefix != DNS_ANSWER_LOG_PREFIX {
                        continue;
                    }
                    let now = Instant::now();
                    for a in parser.packet(&copy.packet, now) {
                        shared.take(&a, now);
                    }
                }
            })
            .map_err(|source| NflogError::Socket {
                netns: netns.to_string(),
                context: "snooper thread",
                source,
            })?;
        Ok(SnoopWatch { stop })
    }

    /// Takes an answer as if it had been snooped (what the reader threads do with each one).
    pub fn take(&self, answer: &SnoopedAnswer, now: Instant) {
        self.shared.take(answer, now);
    }

    /// Waits until the answer with this ID to `client:client_port` has been taken into the
    /// cache; false on timeout.
    pub fn wait_for_answer(
        &self,
        client: IpAddr,
        client_port: u16,
        id: u16,
        timeout: Duration,
    ) -> bool {
        let want = Seen {
            client,
            client_port,
            id,
        };
        let deadline = Instant::now() + timeout;
        let Ok(mut seen) = self.shared.seen.lock() else {
            return false;
        };
        loop {
            if seen.contains(&want) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            seen = match self.shared.arrived.wait_timeout(seen, left) {
                Ok((s, _)) => s,
                Err(_) => return false,
            };
        }
    }

    /// Runs `f` on the cache (expire, read, take the changes).
    pub fn with_cache<R>(&self, f: impl FnOnce(&mut FqdnCache) -> R) -> Option<R> {
        self.shared.cache.lock().ok().map(|mut c| f(&mut c))
    }

    /// Answers taken so far.
    pub fn answers_seen(&self) -> u64 {
        self.shared.answers.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn take(&self, a: &SnoopedAnswer, now: Instant) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.learn_all(&a.answer.mappings, now);
        }
        self.answers.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= SEEN_ANSWERS {
                seen.pop_front();
            }
            seen.push_back(Seen {
                client: a.client,
                client_port: a.client_port,
                id: a.answer.id,
            });
        }
        self.arrived.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns_answer::Mapping;
    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::{Name, RData, Record, RecordType, rdata};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn answer_bytes(id: u16, q: &str, records: Vec<Record>) -> Vec<u8> {
        let mut m = Message::response(id, OpCode::Query);
        m.add_query(Query::query(name(q), RecordType::A));
        for r in records {
            m.add_answer(r);
        }
        m.to_vec().unwrap()
    }

    fn a(owner: &str, ip: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(rdata::A(ip.parse().unwrap())))
    }

    fn cname(owner: &str, target: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::CNAME(rdata::CNAME(name(target))))
    }

    fn mapping(n: &str, ip: &str, ttl: u32) -> Mapping {
        Mapping {
            name: n.into(),
            ip: ip.parse().unwrap(),
            ttl,
        }
    }

    #[test]
    fn a_records_map_their_owner_and_cname_chains_map_every_alias() {
        let bytes = answer_bytes(
            7,
            "WWW.Example.com.",
            vec![
                cname("www.example.com.", "edge.cdn.net.", 300),
                cname("edge.cdn.net.", "node7.cdn.net.", 60),
                a("node7.cdn.net.", "192.0.2.7", 120),
                a("node7.cdn.net.", "192.0.2.8", 20),
            ],
        );
        let d = decode_answer(&bytes).unwrap();
        assert_eq!(d.id, 7);
        assert_eq!(d.question.as_deref(), Some("www.example.com"));
        assert_eq!(
            d.mappings,
            vec![
                mapping("edge.cdn.net", "192.0.2.7", 60),
                mapping("edge.cdn.net", "192.0.2.8", 20),
                mapping("node7.cdn.net", "192.0.2.7", 120),
                mapping("node7.cdn.net", "192.0.2.8", 20),
                mapping("www.example.com", "192.0.2.7", 60),
                mapping("www.example.com", "192.0.2.8", 20),
            ]
        );
    }

    #[test]
    fn loops_queries_and_errors_map_nothing() {
        let looped = answer_bytes(
            1,
            "a.test.",
            vec![
                cname("a.test.", "b.test.", 5),
                cname("b.test.", "a.test.", 5),
            ],
        );
        assert!(decode_answer(&looped).unwrap().mappings.is_empty());
        let mut q = Message::new(2, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(name("a.test."), RecordType::A));
        assert!(decode_answer(&q.to_vec().unwrap()).is_none());
        let mut nx = Message::error_msg(3, OpCode::Query, ResponseCode::NXDomain);
        nx.add_answer(a("a.test.", "192.0.2.1", 5));
        let d = decode_answer(&nx.to_vec().unwrap()).unwrap();
        assert_eq!(d.rcode, ResponseCode::NXDomain);
        assert!(d.mappings.is_empty());
        assert!(decode_answer(b"tierwall-testbed saw 10.0.0.1:53").is_none());
    }

    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        p[9] = proto;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p.extend_from_slice(l4);
        p
    }

    fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(data);
        u
    }

    fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, data: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t.extend_from_slice(data);
        t
    }

    const SERVER: [u8; 4] = [169, 254, 20, 10];
    const CLIENT: [u8; 4] = [10, 10, 2, 11];

    #[test]
    fn udp_answers_are_decoded_with_their_client() {
        let msg = answer_bytes(
            9,
            "db.example.test.",
            vec![a("db.example.test.", "192.0.2.9", 3)],
        );
        let mut p = AnswerParser::new();
        let got = p.packet(
            &ipv4(17, SERVER, CLIENT, &udp(53, 40001, &msg)),
            Instant::now(),
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].client, IpAddr::from(CLIENT));
        assert_eq!((got[0].client_port, got[0].answer.id), (40001, 9));
        assert_eq!(got[0].transport, DnsTransport::Udp);
        assert_eq!(
            got[0].answer.mappings,
            vec![mapping("db.example.test", "192.0.2.9", 3)]
        );
        // The echo server of a Pod answering on port 53 is no DNS server.
        let echo = udp(53, 40002, b"tierwall-testbed saw 10.10.2.11:40002\nhello");
        assert!(
            p.packet(&ipv4(17, SERVER, CLIENT, &echo), Instant::now())
                .is_empty()
        );
        assert_eq!(p.undecodable, 1);
    }

    #[test]
    fn tcp_answers_are_reassembled_across_segments_and_retransmissions() {
        let msg = answer_bytes(
            11,
            "db.example.test.",
            vec![a("db.example.test.", "192.0.2.9", 3)],
        );
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&msg);
        let now = Instant::now();
        let mut p = AnswerParser::new();
        let isn = u32::MAX - 3; // the sequence numbers wrap inside the answer
        let seg = |seq: u32, flags: u8, data: &[u8]| {
            ipv4(6, SERVER, CLIENT, &tcp(53, 40003, seq, flags, data))
        };
        assert!(p.packet(&seg(isn, 0x12, &[]), now).is_empty()); // SYN-ACK
        let (first, rest) = framed.split_at(5);
        assert!(
            p.packet(&seg(isn.wrapping_add(1), 0x18, first), now)
                .is_empty()
        );
        // A retransmission of the first part changes nothing.
        assert!(
            p.packet(&seg(isn.wrapping_add(1), 0x18, first), now)
                .is_empty()
        );
        let got = p.packet(&seg(isn.wrapping_add(6), 0x19, rest), now);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].transport, DnsTransport::Tcp);
        assert_eq!((got[0].client_port, got[0].answer.id), (40003, 11));
        assert_eq!(
            got[0].answer.mappings,
            vec![mapping("db.example.test", "192.0.2.9", 3)]
        );
        assert!(p.streams.is_empty(), "FIN ends the stream");
        // A gap: the stream is given up, nothing is decoded from the middle of a message.
        assert!(p.packet(&seg(100, 0x12, &[]), now).is_empty());
        assert!(p.packet(&seg(150, 0x18, rest), now).is_empty());
        assert!(p.streams.is_empty());
    }

    #[test]
    fn waiting_for_an_answer_sees_it_once_taken() {
        let s = DnsSnooper::new(FqdnCacheOptions::default());
        let msg = answer_bytes(
            5,
            "db.example.test.",
            vec![a("db.example.test.", "192.0.2.9", 3)],
        );
        let answer = SnoopedAnswer {
            client: IpAddr::from(CLIENT),
            client_port: 40010,
            server: IpAddr::from(SERVER),
            transport: DnsTransport::Udp,
            answer: decode_answer(&msg).unwrap(),
        };
        let client = IpAddr::from(CLIENT);
        assert!(!s.wait_for_answer(client, 40010, 5, Duration::from_millis(20)));
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            s2.take(&answer, Instant::now());
        });
        assert!(s.wait_for_answer(client, 40010, 5, Duration::from_secs(5)));
        t.join().unwrap();
        let ips = s.with_cache(|c| c.addresses("db.example.test")).unwrap();
        assert_eq!(ips, vec!["192.0.2.9".parse::<IpAddr>().unwrap()]);
        assert_eq!(s.answers_seen(), 1);
    }
}
