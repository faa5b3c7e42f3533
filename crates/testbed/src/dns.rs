//! Cluster DNS of a testbed: a small authoritative DNS server for `*.svc.cluster.local` (and
//! extra names a test gives it), run in every Node netns at the well-known address
//! [`CLUSTER_DNS_IP`] (as NodeLocal DNSCache does, on `lo`), and the client Pods use to
//! resolve names through it.
//!
//! ```text
//!  Pod netns ── query to 169.254.20.10:53 (UDP; TCP after a truncated answer) ──> its Node
//!  Node netns: 169.254.20.10/32 on lo, `tierwall-probe-helper dns` bound to it (UDP and TCP)
//!      answers from <state dir>/<prefix>.d/cluster-dns.json (re-read when the file is replaced)
//!  Testbed::update_services / set_dns_records ──> rewrite cluster-dns.json (atomic rename)
//! ```
//!
//! **Records.** `<service>.<namespace>.svc.cluster.local`: a headless Service (no ClusterIP)
//! answers the IPs of the Pods it selects that have one (sorted); any other Service its
//! ClusterIP. A records only, TTL [`SERVICE_TTL`]; an AAAA (or other type) query for a known
//! name gets an empty NOERROR answer, an unknown name (or a headless Service without
//! endpoints) NXDOMAIN. Names are matched case-insensitively without the trailing dot. Extra
//! records ([`crate::Testbed::set_dns_records`]) carry their own TTL and take precedence.
//! A UDP answer longer than 512 bytes (or the EDNS size the query offers) is sent truncated
//! (TC set, no records), so the client asks again over TCP (RFC 1035 §4.2.2 framing).
//!
//! Messages are encoded and decoded with `hickory-proto`.

use crate::Testbed;
use crate::error::TestbedError;
use crate::exec::{self, Job};
use crate::layout::NodeLayout;
use crate::probe::Endpoint;
use crate::state;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, rdata};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tierwall_engine::cluster::Cluster;

/// The address of cluster DNS in every Node netns (NodeLocal DNSCache's well-known address).
pub const CLUSTER_DNS_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 20, 10);
/// DNS's port, over UDP and TCP.
pub const DNS_PORT: u16 = 53;
/// TTL of the records of Services (seconds).
pub const SERVICE_TTL: u32 = 30;
/// The suffix of Service names.
pub const SERVICE_DOMAIN: &str = "svc.cluster.local";
/// The largest UDP answer without EDNS (RFC 1035 §4.2.1).
const UDP_LIMIT: usize = 512;
/// How long the server waits for a TCP client's query.
const TCP_IDLE: Duration = Duration::from_secs(5);

/// The A records of one name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Seconds.
    pub ttl: u32,
    pub addrs: Vec<Ipv4Addr>,
}

/// Everything cluster DNS answers: lower-case name (no trailing dot) → records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub records: BTreeMap<String, DnsRecord>,
}

/// `Foo.Example.` → `foo.example`.
pub fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    /// The Services of `cluster` as records (IPv6 addresses are left out: A records only),
    /// then the `extra` records (which replace a Service's name if they give the same one).
    pub fn of_cluster(cluster: &Cluster, extra: &BTreeMap<String, DnsRecord>) -> Zone {
        let mut records = BTreeMap::new();
        for svc in cluster.services.values() {
            let name = normalize_name(&format!("{}.{}.{SERVICE_DOMAIN}", svc.name, svc.namespace));
            let mut addrs: Vec<Ipv4Addr> = match svc.cluster_ip {
                Some(ip) => v4(ip).into_iter().collect(),
                None => cluster
                    .service_backends(svc)
                    .filter_map(|p| p.ip.and_then(v4))
                    .collect(),
            };
            addrs.sort();
            addrs.dedup();
            records.insert(
                name,
                DnsRecord {
                    ttl: SERVICE_TTL,
                    addrs,
                },
            );
        }
        for (name, record) in extra {
            records.insert(normalize_name(name), record.clone());
        }
        Zone { records }
    }

    /// The records of a name (`None`, or no address: the name does not exist).
    pub fn lookup(&self, name: &str) -> Option<&DnsRecord> {
        self.records
            .get(&normalize_name(name))
            .filter(|r| !r.addrs.is_empty())
    }
}

fn v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// The answer to one query message (wire format), or `None` when `query` is not a DNS query
/// (nothing is sent back then). `udp_limit`: truncate answers longer than the UDP limit.
pub fn respond(zone: &Zone, query: &[u8], udp: bool) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.authoritative = true;
    response.queries = request.queries.clone();
    if request.metadata.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return response.to_vec().ok();
    }
    let Some(question) = request
        .queries
        .first()
        .filter(|_| request.queries.len() == 1)
    else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response.to_vec().ok();
    };
    let asked = question.name().to_ascii();
    match zone.lookup(&asked) {
        None => response.metadata.response_code = ResponseCode::NXDomain,
        Some(record) => {
            let wants_a = matches!(question.query_type(), RecordType::A | RecordType::ANY)
                && matches!(question.query_class(), DNSClass::IN | DNSClass::ANY);
            if wants_a {
                for addr in &record.addrs {
                    let mut rr = Record::from_rdata(
                        question.name().clone(),
                        record.ttl,
                        RData::A(rdata::A(*addr)),
                    );
                    rr.dns_class = DNSClass::IN;
                    response.add_answer(rr);
                }
            }
        }
    }
    if let Some(edns) = &request.edns {
        let mut e = edns.clone();
        e.set_max_payload(edns.max_payload().max(UDP_LIMIT as u16));
        response.set_edns(e);
    }
    let bytes = response.to_vec().ok()?;
    let limit = request
        .edns
        .as_ref()
        .map_or(UDP_LIMIT, |e| usize::from(e.max_payload()).max(UDP_LIMIT));
    if udp && bytes.len() > limit {
        let mut short = Message::response(request.metadata.id, request.metadata.op_code);
        short.metadata = response.metadata;
        short.metadata.truncation = true;
        short.queries = response.queries.clone();
        return short.to_vec().ok();
    }
    Some(bytes)
}

/// What tells one version of a file from another: device, inode, mtime (s, ns), size.
type FileIdentity = (u64, u64, i64, i64, u64);

/// The zone a server answers from: the file, re-read when it is replaced or changed.
struct ZoneFile {
    path: PathBuf,
    loaded: Mutex<(Option<FileIdentity>, Arc<Zone>)>,
}

impl ZoneFile {
    fn new(path: PathBuf) -> Self {
        ZoneFile {
            path,
            loaded: Mutex::new((None, Arc::new(Zone::default()))),
        }
    }

    /// The current zone (an unreadable or missing file answers NXDOMAIN for everything).
    fn current(&self) -> Arc<Zone> {
        let identity = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.size()));
        let Ok(mut loaded) = self.loaded.lock() else {
            return Arc::new(Zone::default());
        };
        if loaded.0 != identity {
            let zone = std::fs::read_to_string(&self.path)
                .ok()
                .and_then(|t| serde_json::from_str::<Zone>(&t).ok())
                .unwrap_or_default();
            *loaded = (identity, Arc::new(zone));
        }
        loaded.1.clone()
    }
}

/// Binds UDP and TCP on `listen` and answers from the zone file `zone` on background threads.
/// Returns once both sockets are bound.
pub fn serve(listen: SocketAddr, zone: PathBuf) -> Result<(), String> {
    let udp = UdpSocket::bind(listen).map_err(|e| format!("bind UDP {listen}: {e}"))?;
    let tcp = TcpListener::bind(listen).map_err(|e| format!("bind TCP {listen}: {e}"))?;
    let zone = Arc::new(ZoneFile::new(zone));
    let z = zone.clone();
    std::thread::Builder::new()
        .name("dns-udp".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                if let Some(answer) = respond(&z.current(), &buf[..n], true) {
                    let _ = udp.send_to(&answer, peer);
                }
            }
        })
        .map_err(|e| format!("start the UDP server: {e}"))?;
    std::thread::Builder::new()
        .name("dns-tcp".into())
        .spawn(move || {
            for conn in tcp.incoming().flatten() {
                let z = zone.clone();
                let _ = std::thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || serve_tcp(conn, &z));
            }
        })
        .map_err(|e| format!("start the TCP server: {e}"))?;
    Ok(())
}

/// Answers length-prefixed queries on one TCP connection until EOF or silence.
fn serve_tcp(mut conn: TcpStream, zone: &ZoneFile) {
    let _ = conn.set_read_timeout(Some(TCP_IDLE));
    while let Ok(query) = read_framed(&mut conn) {
        let Some(answer) = respond(&zone.current(), &query, false) else {
            return;
        };
        if write_framed(&mut conn, &answer).is_err() {
            return;
        }
    }
}

fn read_framed(conn: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut msg)?;
    Ok(msg)
}

fn write_framed(conn: &mut impl Write, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| std::io::Error::other("message too long"))?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    conn.write_all(&framed)
}

/// How a query is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsTransport {
    /// UDP, and TCP again if the answer comes back truncated (what a stub resolver does).
    Udp,
    /// TCP only.
    Tcp,
}

/// What one resolution got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The name asked for, normalized.
    pub name: String,
    /// How the answer that counts came (`Tcp` after a truncated UDP answer).
    pub transport: DnsTransport,
    /// `NoError`, `NXDomain`, ... (`None`: no answer).
    pub rcode: Option<String>,
    pub addrs: Vec<Ipv4Addr>,
    /// Smallest TTL of the answer's A records.
    pub ttl: Option<u32>,
    /// The query's ID and the client's port (with the client's address they identify the
    /// answer, e.g. to a DNS snooper).
    pub id: u16,
    pub client_port: u16,
    /// Why there is no answer (timeout, refused, dropped locally, a bad answer).
    pub error: Option<String>,
}

impl Resolution {
    /// An answer with at least one address.
    pub fn resolved(&self) -> bool {
        !self.addrs.is_empty()
    }
}

fn query_message(name: &str, id: u16) -> Result<Vec<u8>, String> {
    let fqdn = Name::from_ascii(format!("{}.", normalize_name(name)))
        .map_err(|e| format!("bad name {name:?}: {e}"))?;
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(fqdn, RecordType::A));
    m.to_vec().map_err(|e| format!("encode query: {e}"))
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if ok {
        u16::from_be_bytes(b)
    } else {
        std::process::id() as u16 ^ Instant::now().elapsed().subsec_nanos() as u16
    }
}

/// Asks `server` for the A records of `name`, within `timeout` per attempt.
pub fn resolve(
    server: SocketAddr,
    name: &str,
    over: DnsTransport,
    timeout: Duration,
) -> Resolution {
    let id = random_id();
    let mut r = Resolution {
        name: normalize_name(name),
        transport: over,
        rcode: None,
        addrs: Vec::new(),
        ttl: None,
        id,
        client_port: 0,
        error: None,
    };
    let query = match query_message(name, id) {
        Ok(q) => q,
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    let exchanged = match over {
        DnsTransport::Udp => exchange_udp(server, &query, id, timeout, &mut r.client_port),
        DnsTransport::Tcp => exchange_tcp(server, &query, timeout, &mut r.client_port),
    };
    let exchanged = match exchanged {
        Ok(m) if over == DnsTransport::Udp && m.metadata.truncation => {
            r.transport = DnsTransport::Tcp;
            exchange_tcp(server, &query, timeout, &mut r.client_port)
        }
        other => other,
    };
    match exchanged {
        Err(e) => r.error = Some(e),
        Ok(m) if m.metadata.id != id => r.error = Some(format!("answer with ID {}", m.metadata.id)),
        Ok(m) => {
            r.rcode = Some(format!("{:?}", m.metadata.response_code));
            for rr in &m.answers {
                if let RData::A(a) = &rr.data {
                    r.addrs.push(a.0);
                    r.ttl = Some(r.ttl.map_or(rr.ttl, |t| t.min(rr.ttl)));
                }
            }
        }
    }
    r
}

fn describe_io(e: &std::io::Error, timeout: Duration) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no answer within {} ms", timeout.as_millis())
        }
        std::io::ErrorKind::ConnectionRefused => format!("refused ({e})"),
        std::io::ErrorKind::PermissionDenied => format!("dropped on the way out ({e})"),
        _ => e.to_string(),
    }
}

fn exchange_udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    timeout: Duration,
    client_port: &mut u16,
) -> Result<Message, String> {
    let io = |e: std::io::Error| describe_io(&e, timeout);
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(io)?;
    *client_port = sock.local_addr().map_err(io)?.port();
    sock.connect(server).map_err(io)?;
    sock.send(query).map_err(io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer within {} ms", timeout.as_millis()));
        }
        sock.set_read_timeout(Some(left)).map_err(io)?;
        let n = sock.recv(&mut buf).map_err(io)?;
        // Anything that is not the answer to this query (a stray datagram) is ignored.
        if let Ok(m) = Message::from_vec(&buf[..n])
            && m.metadata.id == id
            && m.metadata.message_type == MessageType::Response
        {
            return Ok(m);
        }
    }
}

fn exchange_tcp(
    server: SocketAddr,
    query: &[u8],
    timeout: Duration,
    client_port: &mut u16,
) -> Result<Message, String> {
    let io = |e: std::io::Error| describe_io(&e, timeout);
    let mut conn = TcpStream::connect_timeout(&server, timeout).map_err(io)?;
    *client_port = conn.local_addr().map_err(io)?.port();
    conn.set_read_timeout(Some(timeout)).map_err(io)?;
    write_framed(&mut conn, query).map_err(io)?;
    let answer = read_framed(&mut conn).map_err(io)?;
    Message::from_vec(&answer).map_err(|e| format!("undecodable answer: {e}"))
}

/// File names under the testbed's data directory.
const ZONE_FILE: &str = "cluster-dns.json";
const EXTRA_FILE: &str = "cluster-dns-extra.json";

/// Where the zone of testbed `prefix` is kept.
pub fn zone_path(prefix: &str) -> PathBuf {
    state::data_dir(prefix).join(ZONE_FILE)
}

fn extra_path(prefix: &str) -> PathBuf {
    state::data_dir(prefix).join(EXTRA_FILE)
}

fn write_atomic(path: &Path, text: &str) -> Result<(), TestbedError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| TestbedError::io(format!("create {}", dir.display()), e))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .map_err(|e| TestbedError::io(format!("write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| TestbedError::io(format!("rename {}", tmp.display()), e))
}

fn to_json<T: Serialize>(value: &T, path: &Path) -> Result<String, TestbedError> {
    serde_json::to_string_pretty(value).map_err(|e| TestbedError::State {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

impl Testbed {
    /// Where Pods reach cluster DNS (on their own Node).
    pub fn cluster_dns(&self) -> SocketAddr {
        SocketAddr::from((CLUSTER_DNS_IP, DNS_PORT))
    }

    /// The records cluster DNS answers now.
    pub fn dns_zone(&self) -> Result<Zone, TestbedError> {
        let path = zone_path(self.prefix());
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TestbedError::io(format!("read {}", path.display()), e))?;
        serde_json::from_str(&text).map_err(|e| TestbedError::State {
            path,
            message: e.to_string(),
        })
    }

    /// Sets the records cluster DNS answers besides the Services' (names outside the cluster,
    /// e.g. `db.example.com`, each with its TTL) and rewrites the zone from `cluster`.
    pub fn set_dns_records(
        &self,
        cluster: &Cluster,
        extra: &BTreeMap<String, DnsRecord>,
    ) -> Result<(), TestbedError> {
        let path = extra_path(self.prefix());
        let normalized: BTreeMap<String, DnsRecord> = extra
            .iter()
            .map(|(n, r)| (normalize_name(n), r.clone()))
            .collect();
        write_atomic(&path, &to_json(&normalized, &path)?)?;
        self.write_dns_zone(cluster)
    }

    /// Rewrites the zone file from the Services of `cluster` and the extra records; the
    /// servers answer from it from their next query on.
    pub(crate) fn write_dns_zone(&self, cluster: &Cluster) -> Result<(), TestbedError> {
        let extra_file = extra_path(self.prefix());
        let extra: BTreeMap<String, DnsRecord> = match std::fs::read_to_string(&extra_file) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| TestbedError::State {
                path: extra_file.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(TestbedError::io(
                    format!("read {}", extra_file.display()),
                    e,
                ));
            }
        };
        let zone = Zone::of_cluster(cluster, &extra);
        let path = zone_path(self.prefix());
        write_atomic(&path, &to_json(&zone, &path)?)
    }

    /// Gives each Node [`CLUSTER_DNS_IP`] on `lo` and starts its DNS server; waits until every
    /// server has bound its sockets.
    pub(crate) fn start_cluster_dns(&mut self, nodes: &[NodeLayout]) -> Result<(), TestbedError> {
        let address = format!("addr add {CLUSTER_DNS_IP}/32 dev lo");
        exec::run_all(
            nodes
                .iter()
                .map(|n| exec::ip_batch(&n.netns, std::slice::from_ref(&address)))
                .collect(),
        )?;
        let prefix = self.prefix().to_string();
        let zone = zone_path(&prefix);
        let args = vec![
            "--listen".to_string(),
            SocketAddr::from((CLUSTER_DNS_IP, DNS_PORT)).to_string(),
            "--zone".to_string(),
            zone.display().to_string(),
        ];
        let mut waiting = Vec::new();
        for n in nodes {
            let log = state::open_log(&prefix)?;
            let mut cmd = exec::probe_helper(&n.netns, &self.state.probe_helper, "dns", &args);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(log));
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let mut child = cmd.spawn().map_err(|e| TestbedError::Command {
                command: format!("ip netns exec {} probe-helper dns", n.netns),
                message: format!("cannot start: {e}"),
            })?;
            let stdout = child.stdout.take();
            self.children.push(child);
            waiting.push((n.netns.clone(), stdout));
        }
        for (netns, stdout) in waiting {
            let mut line = String::new();
            if let Some(out) = stdout {
                let _ = std::io::BufReader::new(out).read_line(&mut line);
            }
            if line.trim() != "ready" {
                return Err(TestbedError::ProbeHelper {
                    netns,
                    message: format!(
                        "cluster DNS did not start: {} (see {})",
                        line.trim(),
                        state::log_path(&prefix).display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Resolves `name` from `src` (in its netns) through cluster DNS: a real query, answered by
    /// the DNS server of the source's Node. An answer without addresses (NXDOMAIN) or no answer
    /// at all is a `Resolution` with `error`/`rcode` telling why, not an `Err`.
    pub fn resolve(
        &self,
        src: &Endpoint,
        name: &str,
        over: DnsTransport,
    ) -> Result<Resolution, TestbedError> {
        let netns = self.endpoint_netns(src)?.to_string();
        let mut args = vec![
            "--server".to_string(),
            self.cluster_dns().to_string(),
            "--timeout-ms".to_string(),
            self.state.probe_timeout_ms.to_string(),
        ];
        if over == DnsTransport::Tcp {
            args.extend(["--tcp".to_string(), "1".to_string()]);
        }
        args.push("--name".to_string());
        args.push(name.to_string());
        let out = exec::run(Job::new(exec::probe_helper(
            &netns,
            &self.state.probe_helper,
            "resolve",
            &args,
        )))?;
        serde_json::from_str(out.trim()).map_err(|e| TestbedError::ProbeHelper {
            netns,
            message: format!("unreadable resolution {out:?}: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        let mut records = BTreeMap::new();
        records.insert(
            "foobar.x.svc.cluster.local".to_string(),
            DnsRecord {
                ttl: 30,
                addrs: vec!["10.10.1.11".parse().unwrap()],
            },
        );
        records.insert(
            "empty.x.svc.cluster.local".to_string(),
            DnsRecord {
                ttl: 30,
                addrs: vec![],
            },
        );
        records.insert(
            "big.example.test".to_string(),
            DnsRecord {
                ttl: 7,
                addrs: (1..=60).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect(),
            },
        );
        Zone { records }
    }

    fn ask(name: &str, qtype: RecordType, udp: bool) -> Message {
        let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        let answer = respond(&zone(), &m.to_vec().unwrap(), udp).unwrap();
        Message::from_vec(&answer).unwrap()
    }

    #[test]
    fn answers_known_names_case_insensitively_with_a_records() {
        let m = ask("FooBar.x.svc.cluster.local.", RecordType::A, true);
        assert_eq!(m.metadata.id, 4242);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].ttl, 30);
        assert_eq!(
            m.answers[0].data,
            RData::A(rdata::A("10.10.1.11".parse().unwrap()))
        );
        // AAAA of a known name: NOERROR without records.
        let m = ask("foobar.x.svc.cluster.local.", RecordType::AAAA, true);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty());
    }

    #[test]
    fn unknown_names_and_services_without_endpoints_are_nxdomain() {
        for name in ["nope.x.svc.cluster.local.", "empty.x.svc.cluster.local."] {
            let m = ask(name, RecordType::A, true);
            assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
            assert!(m.answers.is_empty());
        }
    }

    #[test]
    fn long_udp_answers_are_truncated_and_tcp_gets_them_whole() {
        let m = ask("big.example.test.", RecordType::A, true);
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        let m = ask("big.example.test.", RecordType::A, false);
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 60);
    }

    #[test]
    fn garbage_and_answers_get_no_reply() {
        assert!(respond(&zone(), b"tierwall-testbed saw 10.0.0.1:5", true).is_none());
        let mut m = Message::response(1, OpCode::Query);
        m.add_query(Query::query(
            Name::from_ascii("foobar.x.svc.cluster.local.").unwrap(),
            RecordType::A,
        ));
        assert!(respond(&zone(), &m.to_vec().unwrap(), true).is_none());
    }

    #[test]
    fn the_server_and_client_talk_over_loopback_udp_and_tcp() {
        let dir = std::env::temp_dir().join(format!("tierwall-dns-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("zone.json");
        std::fs::write(&path, serde_json::to_string(&zone()).unwrap()).unwrap();
        // A free port on loopback.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        serve(listen, path.clone()).unwrap();
        let t = Duration::from_secs(2);
        let r = resolve(listen, "foobar.x.svc.cluster.local", DnsTransport::Udp, t);
        assert_eq!(r.addrs, vec!["10.10.1.11".parse::<Ipv4Addr>().unwrap()]);
        assert_eq!((r.transport, r.ttl), (DnsTransport::Udp, Some(30)));
        assert!(r.client_port != 0 && r.error.is_none());
        // Truncated over UDP: asked again over TCP.
        let r = resolve(listen, "big.example.test", DnsTransport::Udp, t);
        assert_eq!((r.transport, r.addrs.len()), (DnsTransport::Tcp, 60));
        let r = resolve(listen, "nope.example.test", DnsTransport::Tcp, t);
        assert_eq!(r.rcode.as_deref(), Some("NXDomain"));
        assert!(!r.resolved());
        // The zone file is replaced: the next query sees the new records.
        let mut z = zone();
        z.records
            .get_mut("foobar.x.svc.cluster.local")
            .unwrap()
            .addrs = vec!["10.10.2.12".parse().unwrap()];
        let tmp = dir.join("zone.json.tmp");
        std::fs::write(&tmp, serde_json::to_string(&z).unwrap()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let r = resolve(listen, "foobar.x.svc.cluster.local", DnsTransport::Udp, t);
        assert_eq!(r.addrs, vec!["10.10.2.12".parse::<Ipv4Addr>().unwrap()]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
