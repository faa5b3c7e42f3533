//! `tierwall metrics --testbed PREFIX [--listen ADDR] [--once]`: the testbed's rule counters
//! as a Prometheus/OpenMetrics endpoint (`GET /metrics`, read from nftables on every scrape),
//! or printed once to stdout with `--once`. See `tierwall_lab::metrics` for the series.

use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use tierwall_lab::metrics::{MetricsServer, scrape};

/// Runs the endpoint (or prints one exposition with `once`).
pub fn run(
    prefix: &str,
    listen: SocketAddr,
    once: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    tierwall_testbed::options::validate_prefix(prefix)?;
    if once {
        let text =
            scrape(prefix).with_context(|| format!("reading the counters of testbed {prefix}"))?;
        out.write_all(text.as_bytes())?;
        return Ok(0);
    }
    // Fail before listening when the testbed or its objects are missing.
    tierwall_lab::persisted::load(prefix)
        .with_context(|| format!("loading the objects of testbed {prefix}"))?;
    let server = MetricsServer::bind(listen, prefix)?;
    let addr = server.local_addr().unwrap_or(listen);
    writeln!(
        err,
        "serving the rule statistics of testbed {prefix} on http://{addr}/metrics"
    )?;
    err.flush()?;
    server.serve();
    Ok(0)
}
