//! `tierwall testbed up|down|list`: a cluster of network namespaces that outlives the command;
//! `testbed probe`: one real probe on such a testbed; and the hidden `testbed probe-helper` entry
//! point the testbed runs inside its namespaces.

use crate::TestbedCommand;
use crate::input::{InputArgs, build_engine, parse_port};
use anyhow::{Context, bail};
use std::io::Write;
use std::net::IpAddr;
use tierwall_engine::cluster::L4Protocol;
use tierwall_testbed::{Endpoint, ProbeHelperCommand, Testbed, TestbedOptions, Transport};

/// The probe helper of this binary: `tierwall testbed probe-helper ...`.
pub fn probe_helper_command() -> anyhow::Result<ProbeHelperCommand> {
    let program = std::env::current_exe().context("locating the tierwall executable")?;
    Ok(ProbeHelperCommand {
        program,
        args: vec!["testbed".into(), "probe-helper".into()],
    })
}

pub fn run(
    command: TestbedCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    match command {
        TestbedCommand::Up { input, prefix } => up(&input, prefix, out, err),
        TestbedCommand::Down { prefix, all } => {
            if all {
                let removed = tierwall_testbed::down_all().context("removing testbeds")?;
                writeln!(
                    out,
                    "removed {} testbed(s){}",
                    removed.len(),
                    if removed.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", removed.join(", "))
                    }
                )?;
            } else {
                let prefix = prefix
                    .context("give the testbed prefix (see `tierwall testbed list`) or --all")?;
                tierwall_testbed::down_by_prefix(&prefix)
                    .with_context(|| format!("removing testbed {prefix}"))?;
                writeln!(out, "removed testbed {prefix}")?;
            }
            Ok(0)
        }
        TestbedCommand::List => {
            for p in tierwall_testbed::list().context("listing testbeds")? {
                writeln!(out, "{p}")?;
            }
            Ok(0)
        }
        TestbedCommand::Probe {
            prefix,
            source,
            destination,
            port,
        } => {
            let outcome = probe(&prefix, &source, &destination, &port)?;
            writeln!(out, "{outcome}")?;
            Ok(0)
        }
        TestbedCommand::ProbeHelper { args } => {
            let code = tierwall_testbed::probe_helper::main(&args);
            Ok(if code == std::process::ExitCode::SUCCESS {
                0
            } else {
                1
            })
        }
    }
}

fn up(
    input: &InputArgs,
    prefix: Option<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let engine = build_engine(input, err)?;
    let options = TestbedOptions {
        prefix,
        probe_helper: Some(probe_helper_command()?),
        ..TestbedOptions::default()
    };
    let testbed = Testbed::up(engine.cluster(), options)
        .context("building the testbed (needs root, ip and nft)")?;
    for note in testbed.notes() {
        writeln!(err, "note: {note}")?;
    }
    // The desired state stays with the testbed (for `apply`, `delete`, `get stats`, `metrics`)
    // and the Nodes enforce it. A failure here drops (tears down) the testbed.
    tierwall_lab::persisted::save(testbed.prefix(), &engine)
        .context("storing the testbed's objects")?;
    tierwall_lab::persisted::enforce(&testbed, &engine, false)
        .context("programming the testbed's Nodes")?;
    let prefix = testbed.detach();
    writeln!(out, "{prefix}")?;
    writeln!(
        err,
        "testbed {prefix} is up; `tierwall testbed down {prefix}` removes it"
    )?;
    Ok(0)
}

/// `testbed probe`: the outcome's word (`Connected`, `Dropped`, `Rejected`) of one real probe.
fn probe(
    prefix: &str,
    source: &str,
    destination: &str,
    port: &str,
) -> anyhow::Result<&'static str> {
    let transport = probe_transport(port)?;
    tierwall_testbed::options::validate_prefix(prefix)?;
    let testbed = Testbed::attach(prefix).map_err(|e| match e {
        tierwall_testbed::TestbedError::NotFound(_) => {
            anyhow::anyhow!("{e}; `tierwall testbed list` shows the testbeds on this machine")
        }
        e => anyhow::Error::new(e).context(format!("testbed {prefix}")),
    })?;
    let src = Endpoint::parse(source).with_context(|| {
        format!("source {source:?}: expected ns/pod, node:NAME or external:NAME")
    })?;
    testbed
        .endpoint_netns(&src)
        .with_context(|| format!("source {source:?}"))?;
    let dst = destination_ip(&testbed, destination)
        .with_context(|| format!("destination {destination:?}"))?;
    let result = testbed
        .probe(&src, dst, transport)
        .with_context(|| format!("probe {src} -> {destination} {transport} on testbed {prefix}"))?;
    Ok(result.outcome.as_str())
}

/// `80/TCP`, `80`, `TCP/80` or `ICMP`.
fn probe_transport(text: &str) -> anyhow::Result<Transport> {
    if text.eq_ignore_ascii_case("icmp") {
        return Ok(Transport::Icmp);
    }
    let (port, protocol) =
        parse_port(text).map_err(|e| anyhow::anyhow!("port {text:?}: {e}, or ICMP"))?;
    let protocol =
        L4Protocol::parse(Some(protocol.as_deref().unwrap_or("TCP"))).with_context(|| {
            format!("port {text:?}: unknown protocol (expected TCP, UDP, SCTP or ICMP)")
        })?;
    Ok(Transport::l4(protocol, port))
}

/// The address a probe to `text` dials: a Pod's, a Node's or an external's address, a Service's
/// ClusterIP (from the testbed's stored objects), or an IP address.
fn destination_ip(testbed: &Testbed, text: &str) -> anyhow::Result<IpAddr> {
    let bare = text.strip_prefix("ip:").unwrap_or(text);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip);
    }
    if let Some(service) = text.strip_prefix("service:") {
        let Some((ns, name)) = service.split_once('/') else {
            bail!("expected service:NAMESPACE/NAME");
        };
        let engine = tierwall_lab::persisted::load(testbed.prefix())
            .map_err(anyhow::Error::msg)
            .context("reading the testbed's stored objects")?;
        let svc = engine.cluster().service(ns, name).with_context(|| {
            format!(
                "unknown Service {ns}/{name} in testbed {}",
                testbed.prefix()
            )
        })?;
        return svc
            .cluster_ip
            .with_context(|| format!("Service {ns}/{name} has no ClusterIP"));
    }
    let endpoint = Endpoint::parse(text)
        .context("expected ns/pod, node:NAME, external:NAME, service:NS/NAME or an IP address")?;
    let ip = match &endpoint {
        Endpoint::Pod { namespace, name } => testbed.pod_ip(namespace, name)?,
        Endpoint::Node(n) => testbed.node_ip(n)?,
        Endpoint::External(n) => testbed.external_ip(n)?,
    };
    Ok(IpAddr::V4(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_ports_take_either_order_and_icmp() {
        assert_eq!(probe_transport("80/TCP").ok(), Some(Transport::Tcp(80)));
        assert_eq!(probe_transport("tcp/80").ok(), Some(Transport::Tcp(80)));
        assert_eq!(probe_transport("53/udp").ok(), Some(Transport::Udp(53)));
        assert_eq!(probe_transport("81").ok(), Some(Transport::Tcp(81)));
        assert_eq!(probe_transport("SCTP/82").ok(), Some(Transport::Sctp(82)));
        assert_eq!(probe_transport("icmp").ok(), Some(Transport::Icmp));
        let e = format!(
            "{:#}",
            probe_transport("80/GRE").err().unwrap_or_else(|| panic!())
        );
        assert!(e.contains("unknown protocol"), "{e}");
        let e = format!(
            "{:#}",
            probe_transport("http").err().unwrap_or_else(|| panic!())
        );
        assert!(
            e.starts_with("port \"http\": expected PORT[/PROTOCOL]"),
            "{e}"
        );
        assert!(e.ends_with(", or ICMP"), "{e}");
    }
}
