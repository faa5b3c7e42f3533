//! `tierwall agent --node NAME --controller https://HOST:PORT --identity DIR [--netns NS]
//! [--np-log FILE]`: the agent of one Node, as its own process (a DaemonSet Pod on a real
//! cluster, one process per Node namespace on a testbed). See `tierwall_node::node_agent`.
//!
//! ```text
//!  stderr: connected / realized GENERATION / retrying … lines
//!  SIGINT, SIGTERM: stop; the Node's table stays as it is (it keeps enforcing)
//! ```

use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use tierwall_node::AgentOptions;

/// Options of `tierwall agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The Node this agent enforces (its identity's CN must be `system:node:NODE`).
    #[arg(long, value_name = "NODE")]
    pub node: String,
    /// The controller's Node stream (`https://HOST:PORT`, printed by `tierwall controller`).
    #[arg(long, value_name = "URL")]
    pub controller: String,
    /// Directory with this Node's identity: tls.crt, tls.key and the controller's ca.crt
    /// (`tierwall controller` writes them to `<pki>/nodes/<node>/`).
    #[arg(long, value_name = "DIR")]
    pub identity: PathBuf,
    /// The Node's network namespace (a testbed Node); default: the agent's own namespace.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Write the Node's np.log here (audit lines of logged rules).
    #[arg(long, value_name = "FILE")]
    pub np_log: Option<PathBuf>,
    /// First wait before reconnecting, in milliseconds (doubles up to 5 s).
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub backoff_ms: u64,
    /// Lower bound, in seconds, of how long a snooped DNS address stays in the FQDN cache
    /// (Antrea's `fqdnCacheMinTTL`; 0: the answer's TTL).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub fqdn_cache_min_ttl: u64,
}

/// Runs the agent until SIGINT or SIGTERM.
pub fn run(args: &AgentArgs) -> anyhow::Result<u8> {
    if !args.controller.starts_with("https://") {
        anyhow::bail!(
            "--controller {}: the Node stream is HTTPS only (https://HOST:PORT)",
            args.controller
        );
    }
    let options = AgentOptions {
        node: args.node.clone(),
        controller: args.controller.clone(),
        identity_dir: args.identity.clone(),
        netns: args.netns.clone(),
        np_log: args.np_log.clone(),
        backoff: Duration::from_millis(args.backoff_ms.max(10)),
        max_backoff: Duration::from_secs(5),
        fqdn_cache: tierwall_node::fqdn_cache::FqdnCacheOptions {
            min_ttl: Duration::from_secs(args.fqdn_cache_min_ttl),
            ..Default::default()
        },
        quiet: false,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            let _ = stop.send(true);
        });
        tierwall_node::run(options, stopped)
            .await
            .map_err(anyhow::Error::msg)
    })?;
    eprintln!(
        "agent {}: stopped; the Node's table keeps enforcing",
        args.node
    );
    Ok(0)
}
