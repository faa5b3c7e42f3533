//! The probe helper: the program the testbed runs inside its network namespaces
//! (`ip netns exec <ns> tierwall-probe-helper ...`). Subcommands:
//!
//! ```text
//! serve --testbed <prefix> [--tcp 80,81] [--udp 80] [--sctp 80]
//!     bind every port, print `ready` (or `error: ...`) on stdout, then serve until killed
//! probe [--timeout-ms 1000] (--tcp IP:PORT | --udp IP:PORT | --sctp IP:PORT | --icmp IP)...
//!     run every probe in parallel, print one JSON line per probe, in order:
//!     {"outcome":"Connected|Dropped|Rejected|Error","detail":"...","server_saw":"ip:port"}
//! sysctl [?]key=value...
//!     write /proc/sys/<key> in this netns (a leading `?` ignores a missing key)
//! sctp-check
//!     print `yes` if an SCTP socket can be created, else `no`
//! conntrack-flush
//!     empty this netns' IPv4 connection-tracking table
//! dns --listen IP:PORT --zone <file>      (cluster DNS, see [`dns`])
//! resolve --server IP:PORT [--timeout-ms N] [--tcp 1] --name <name>
//! ```
//!
//! [`main`] takes the arguments after the program name, so another binary (the `tierwall` CLI)
//! can embed the probe helper behind a subcommand.

pub mod client;
pub mod conntrack;
pub mod dns;
pub mod icmp;
pub mod serve;

use crate::probe::{Transport, WireResult};
use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Runs the probe helper with `args` (without the program name).
pub fn main(args: &[String]) -> ExitCode {
    let Some((command, rest)) = args.split_first() else {
        eprintln!(
            "usage: tierwall-probe-helper serve|probe|sysctl|sctp-check|conntrack-flush|dns|resolve ..."
        );
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "serve" => serve_command(rest),
        "probe" => probe_command(rest),
        "sysctl" => sysctl_command(rest),
        "conntrack-flush" => conntrack::flush(),
        "dns" => dns::dns_command(rest),
        "resolve" => dns::resolve_command(rest),
        "sctp-check" => {
            println!("{}", if sctp_supported() { "yes" } else { "no" });
            Ok(())
        }
        other => Err(format!("unknown subcommand {other:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tierwall-probe-helper: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Whether this kernel creates SCTP sockets.
pub fn sctp_supported() -> bool {
    socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::from(132)),
    )
    .is_ok()
}

fn parse_ports(text: &str) -> Result<Vec<u16>, String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u16>().map_err(|_| format!("bad port {s:?}")))
        .collect()
}

/// Parsed `serve` arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ServeArgs {
    pub testbed: Option<String>,
    pub tcp: Vec<u16>,
    pub udp: Vec<u16>,
    pub sctp: Vec<u16>,
}

pub fn parse_serve(args: &[String]) -> Result<ServeArgs, String> {
    let mut out = ServeArgs::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--testbed" => out.testbed = Some(value.clone()),
            "--tcp" => out.tcp.extend(parse_ports(value)?),
            "--udp" => out.udp.extend(parse_ports(value)?),
            "--sctp" => out.sctp.extend(parse_ports(value)?),
            _ => return Err(format!("unknown serve option {flag:?}")),
        }
    }
    Ok(out)
}

fn serve_command(args: &[String]) -> Result<(), String> {
    let a = parse_serve(args)?;
    let mut stdout = std::io::stdout();
    if let Err(e) = serve::start(&a.tcp, &a.udp, &a.sctp) {
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

/// Parsed `probe` arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct ProbeArgs {
    pub timeout: Duration,
    pub targets: Vec<(IpAddr, Transport)>,
}

pub fn parse_probe(args: &[String]) -> Result<ProbeArgs, String> {
    let mut timeout = Duration::from_millis(1000);
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--timeout-ms" {
            let ms: u64 = value
                .parse()
                .map_err(|_| format!("bad timeout {value:?}"))?;
            timeout = Duration::from_millis(ms.clamp(1, 60_000));
            continue;
        }
        let target = Transport::parse_helper_args(flag, value)
            .ok_or_else(|| format!("bad probe {flag} {value}"))?;
        targets.push(target);
    }
    Ok(ProbeArgs { timeout, targets })
}

/// Probes running at once in one probe helper (each holds two sockets; the default limit is 1024 fds).
const PROBE_CONCURRENCY: usize = 200;

fn probe_command(args: &[String]) -> Result<(), String> {
    let a = parse_probe(args)?;
    let mut stdout = std::io::stdout().lock();
    for chunk in a.targets.chunks(PROBE_CONCURRENCY) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|&(ip, t)| {
                let timeout = a.timeout;
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || client::run(ip, t, timeout))
            })
            .collect();
        for h in handles {
            let wire = match h {
                Err(e) => error_wire(format!("cannot start a probe thread: {e}")),
                Ok(h) => match h.join() {
                    Ok(Ok(r)) => WireResult::from_result(&r),
                    Ok(Err(e)) => error_wire(e.0),
                    Err(_) => error_wire("probe thread panicked".into()),
                },
            };
            let line = serde_json::to_string(&wire).map_err(|e| e.to_string())?;
            writeln!(stdout, "{line}").map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn error_wire(detail: String) -> WireResult {
    WireResult {
        outcome: "Error".into(),
        detail,
        server_saw: None,
    }
}

fn sysctl_command(args: &[String]) -> Result<(), String> {
    for arg in args {
        let (optional, setting) = match arg.strip_prefix('?') {
            Some(s) => (true, s),
            None => (false, arg.as_str()),
        };
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("bad sysctl {arg:?} (want key=value)"))?;
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        match std::fs::write(&path, value) {
            Ok(()) => {}
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("sysctl {key}={value}: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_serve_and_probe_arguments() {
        let s = parse_serve(&args("--testbed tw1 --tcp 80,81 --udp 53 --sctp 80")).unwrap();
        assert_eq!(s.tcp, vec![80, 81]);
        assert_eq!(s.udp, vec![53]);
        assert_eq!(s.sctp, vec![80]);
        assert_eq!(s.testbed.as_deref(), Some("tw1"));
        assert!(parse_serve(&args("--tcp x")).is_err());
        assert!(parse_serve(&args("--tcp")).is_err());

        let p = parse_probe(&args("--timeout-ms 500 --tcp 10.0.0.1:80 --icmp 10.0.0.2")).unwrap();
        assert_eq!(p.timeout, Duration::from_millis(500));
        assert_eq!(p.targets.len(), 2);
        assert_eq!(p.targets[1], ("10.0.0.2".parse().unwrap(), Transport::Icmp));
        assert!(parse_probe(&args("--tcp nothing")).is_err());
    }

    #[test]
    fn sysctl_rejects_malformed_settings() {
        assert!(sysctl_command(&args("novalue")).is_err());
        assert!(sysctl_command(&args("?net.does.not.exist=1")).is_ok());
    }
}
