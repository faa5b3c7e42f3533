//! The probe helper's DNS subcommands: `dns` (the cluster DNS server of a Node netns) and `resolve`
//! (one query from the netns the probe helper runs in, printed as a JSON [`Resolution`]).
//!
//! ```text
//! dns --listen 169.254.20.10:53 --zone <zone.json>
//!     bind UDP and TCP, print `ready` (or `error: ...`), answer until killed
//! resolve --server 169.254.20.10:53 [--timeout-ms 1000] [--tcp 1] --name <name>
//!     print {"name":..,"transport":"Udp|Tcp","rcode":..,"addrs":[..],"ttl":..,"id":..,
//!            "client_port":..,"error":..}
//! ```

use crate::dns::{self, DnsTransport};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Parsed `dns` arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct DnsArgs {
    pub listen: SocketAddr,
    pub zone: PathBuf,
}

fn pairs(args: &[String]) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        out.push((flag.as_str(), value.as_str()));
    }
    Ok(out)
}

fn socket_addr(value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| format!("bad address {value:?} (want IP:port)"))
}

pub fn parse_dns(args: &[String]) -> Result<DnsArgs, String> {
    let (mut listen, mut zone) = (None, None);
    for (flag, value) in pairs(args)? {
        match flag {
            "--listen" => listen = Some(socket_addr(value)?),
            "--zone" => zone = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown dns option {flag:?}")),
        }
    }
    Ok(DnsArgs {
        listen: listen.ok_or("dns needs --listen")?,
        zone: zone.ok_or("dns needs --zone")?,
    })
}

/// Parsed `resolve` arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct ResolveArgs {
    pub server: SocketAddr,
    pub timeout: Duration,
    pub over: DnsTransport,
    pub name: String,
}

pub fn parse_resolve(args: &[String]) -> Result<ResolveArgs, String> {
    let (mut server, mut name) = (None, None);
    let mut timeout = Duration::from_millis(1000);
    let mut over = DnsTransport::Udp;
    for (flag, value) in pairs(args)? {
        match flag {
            "--server" => server = Some(socket_addr(value)?),
            "--timeout-ms" => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| format!("bad timeout {value:?}"))?;
                timeout = Duration::from_millis(ms.clamp(1, 60_000));
            }
            "--tcp" => {
                if value == "1" {
                    over = DnsTransport::Tcp;
                }
            }
            "--name" => name = Some(value.to_string()),
            _ => return Err(format!("unknown resolve option {flag:?}")),
        }
    }
    Ok(ResolveArgs {
        server: server.ok_or("resolve needs --server")?,
        timeout,
        over,
        name: name.ok_or("resolve needs --name")?,
    })
}

/// `dns`: serves until killed.
pub fn dns_command(args: &[String]) -> Result<(), String> {
    let a = parse_dns(args)?;
    let mut stdout = std::io::stdout();
    if let Err(e) = dns::serve(a.listen, a.zone) {
        let _ = writeln!(stdout, "error: {e}");
        let _ = stdout.flush();
        return Err(e);
    }
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    loop {
        std::thread::park();
    }
}

/// `resolve`: one resolution, one JSON line.
pub fn resolve_command(args: &[String]) -> Result<(), String> {
    let a = parse_resolve(args)?;
    let r = dns::resolve(a.server, &a.name, a.over, a.timeout);
    let line = serde_json::to_string(&r).map_err(|e| e.to_string())?;
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_dns_and_resolve_arguments() {
        let d = parse_dns(&args("--listen 169.254.20.10:53 --zone /run/z.json")).unwrap();
        assert_eq!(d.listen, "169.254.20.10:53".parse().unwrap());
        assert!(parse_dns(&args("--zone /z")).is_err());
        assert!(parse_dns(&args("--listen nowhere --zone /z")).is_err());
        let r = parse_resolve(&args(
            "--server 169.254.20.10:53 --timeout-ms 300 --tcp 1 --name a.x.svc.cluster.local",
        ))
        .unwrap();
        assert_eq!(r.over, DnsTransport::Tcp);
        assert_eq!(r.timeout, Duration::from_millis(300));
        assert_eq!(r.name, "a.x.svc.cluster.local");
        assert!(parse_resolve(&args("--server 169.254.20.10:53")).is_err());
        assert!(parse_resolve(&args("--bogus 1 --name a")).is_err());
    }
}
