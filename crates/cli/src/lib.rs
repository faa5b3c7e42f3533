//! The `tierwall` command line: one binary with a subcommand per job, following kubectl's
//! conventions (`-f`, `-o table|wide|yaml|json`, short names `acnp annp tr cg grp netpol`).
//!
//! ```text
//!  tierwall validate -f PATH...                       admission of all inputs, one line per problem
//!  tierwall get tr|acnp|annp|cg|grp|netpol [-f ...]   kubectl / antctl tables, -o yaml|json
//!  tierwall trace -S x/a -D y/b --port 80/TCP         which tier, policy and rule decide a flow
//!  tierwall matrix --port 80/TCP                      Pod-to-Pod reachability and blocking rules
//!  tierwall scenario run PATH...                      conformance scenarios (engine mode)
//!  tierwall testbed up|down|list                      a cluster of network namespaces (root)
//!  tierwall testbed probe P x/a y/b 80/TCP            one real probe on a running testbed (root)
//!  tierwall apply|delete --testbed P ...              change a running testbed's policies (root)
//!  tierwall get stats --testbed P / metrics           per-rule counters, Prometheus (root)
//!  tierwall controller --manifests DIR [--testbed P]  the cluster's controller (HTTP API)
//!  tierwall adapter --manager URL --cluster-id ID ...  manager policies into a cluster, reports back
//!  tierwall nsx get groups|policies|rules|stats|clusters --manager URL   what a manager holds
//!  tierwall nsx trace --source IP --destination IP --port 80/TCP --manager URL  a flow through its DFW
//!  tierwall demo                                      the whole system on real packets (root)
//! ```
//!
//! `run_with` takes the output streams, so every command can be tested on captured output.

pub mod commands;
pub mod input;
pub mod manager_cmd;
pub mod output;

use clap::{Parser, Subcommand};
use input::{ClusterChoice, InputArgs, TransportArgs};
use output::{GetFormat, TraceFormat};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Tiered network policy for Kubernetes: Antrea-native policies, enforced and explained.
#[derive(Debug, Parser)]
#[command(name = "tierwall", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Admit manifests as Antrea's webhooks and the API server would; report every problem.
    ///
    /// All inputs are admitted together in dependency order (Nodes, Namespaces, ServiceAccounts,
    /// Pods, Services, Tiers, ClusterGroups/Groups, then policies), so a policy may use a Tier
    /// defined in another file. Prints one line per problem
    /// (`<file>:<line>:<column>: <Kind ns/name>: <field>: <message>`), `warning: ...` lines, then
    /// `N objects valid, M invalid`. Exit status 1 when any object is invalid.
    Validate {
        /// Manifest files or directories (same as -f).
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Manifest file, directory (every *.yaml, *.yml, *.json, recursively) or `-` for stdin;
        /// repeatable.
        #[arg(short = 'f', long = "filename", value_name = "PATH")]
        files: Vec<PathBuf>,
        /// Admit the inputs on top of the standard cluster (`standard`) or alone (`inputs`, the
        /// default).
        #[arg(long, value_enum, value_name = "CLUSTER")]
        cluster: Option<ClusterChoice>,
    },
    /// List Tiers, policies or groups as kubectl (or antctl) shows them.
    ///
    /// Resources: tiers (tr), clusternetworkpolicies (acnp), antreanetworkpolicies (annp),
    /// clustergroups (cg), groups (grp), networkpolicies (netpol). Namespaced kinds are listed
    /// across all namespaces (as with kubectl -A). The system Tiers are always present.
    ///
    /// DESIRED NODES is the number of Nodes hosting Pods the policy applies to (plus Nodes selected
    /// by a nodeSelector appliedTo). There are no agents in engine mode: every Node counts as
    /// having realized the policy, so CURRENT NODES = DESIRED NODES. AGE comes from
    /// metadata.creationTimestamp (kubectl style, `5d`, `3h`; `<unknown>` for an object without
    /// one); the column is left out when no listed object has one.
    ///
    /// `--sort-by=effectivePriority` (with netpol, acnp or annp) prints antctl's `get netpol`
    /// view of every policy, Antrea-native and Kubernetes, in enforcement order:
    /// NAME (the policy's ns/name) APPLIED-TO (number of Pods) RULES SOURCE TIER-PRIORITY PRIORITY,
    /// Kubernetes NetworkPolicies at tier priority 251. Any other --sort-by is a kubectl JSONPath
    /// such as `.spec.priority`.
    Get {
        /// tiers|tr, acnp, annp, cg, grp or netpol.
        #[arg(value_name = "RESOURCE")]
        resource: String,
        #[command(flatten)]
        input: InputArgs,
        /// Output format: table, wide (acnp/annp add APPLIED-TO-PODS and RULES), yaml or json
        /// (a `kind: List` of the stored objects, after mutation, with their status).
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        output: GetFormat,
        /// `effectivePriority` (antctl view), or a JSONPath (`.spec.priority`, `.metadata.name`).
        #[arg(long = "sort-by", value_name = "FIELD")]
        sort_by: Option<String>,
        /// `get stats` only: the testbed (built by `tierwall testbed up`) whose counters to read.
        /// `get stats` prints KIND NAMESPACE NAME RULE SESSIONS PACKETS BYTES per policy (total
        /// row) and rule, summed over Nodes. SESSIONS are the connections the rule decided;
        /// PACKETS and BYTES count only each session's first packet (established traffic is
        /// accepted before policy, so rule counters never see the rest of a session).
        #[arg(long, value_name = "PREFIX")]
        testbed: Option<String>,
    },
    /// Decide one flow and explain which tier, policy and rule decided each direction.
    ///
    /// Sources: `ns/pod`, `pod:ns/pod`, `node:<name>`, `ip:<addr>`. Destinations: `ns/pod`,
    /// `pod:ns/pod`, `service:ns/name` (DNAT to a backend), `node:<name>`, `ip:<addr>`,
    /// `fqdn:<name>`. The exit status is 0 whatever the verdict, 1 when an endpoint cannot be
    /// resolved.
    Trace {
        #[command(flatten)]
        input: InputArgs,
        /// Source: ns/pod, pod:ns/pod, node:<name> or ip:<addr>.
        #[arg(short = 'S', long, value_name = "SOURCE")]
        source: String,
        /// Destination: ns/pod, pod:ns/pod, service:ns/name, node:<name>, ip:<addr> or fqdn:<name>.
        #[arg(short = 'D', long, value_name = "DESTINATION")]
        destination: String,
        #[command(flatten)]
        transport: TransportArgs,
        /// Output format: text, or the engine's verdict as json or yaml.
        #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
        output: TraceFormat,
        /// A DNS answer for fqdn: destinations and FQDN rules, `NAME=IP[,IP...]`; repeatable.
        /// Cluster DNS names (`<svc>.<ns>.svc.cluster.local`) resolve without it.
        #[arg(long = "dns", value_name = "NAME=IP[,IP...]")]
        dns: Vec<String>,
        /// Also send a real probe through a testbed built for the cluster (needs root): report
        /// what the client saw and which rule counters the packet hit, beside the prediction.
        #[arg(long)]
        live: bool,
    },
    /// Pod-to-Pod reachability matrix on one port (or ICMP), with the rule behind every blocked cell.
    ///
    /// Cells: `.` connected, `X` dropped, `R` rejected, `-` same Pod. Rows are sources, columns
    /// destinations, Pods sorted by namespace and name (or in the order of --pods).
    Matrix {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        transport: TransportArgs,
        /// Only these Pods, comma separated (`x/a,x/b,y/a`).
        #[arg(long, value_name = "NS/POD,...", value_delimiter = ',')]
        pods: Vec<String>,
    },
    /// Conformance scenarios (the format is described in docs/scenarios.md).
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// The whole system in under a minute (needs root): build the standard testbed, apply the
    /// quickstart policies, measure the reachability matrix with real packets, show np.log lines
    /// and per-rule statistics, tear down.
    Demo,
    /// Apply manifests to a running testbed (needs root): admission on top of its stored objects
    /// (nothing changes when any object is rejected), then every Node is programmed. Named rule
    /// counters keep their values.
    Apply {
        /// The testbed prefix (`tierwall testbed up -f ...` stores the objects it was built with).
        #[arg(long, value_name = "PREFIX")]
        testbed: String,
        /// Manifest file, directory or `-` for stdin; repeatable.
        #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
        files: Vec<PathBuf>,
    },
    /// Delete objects (`acnp/NAME`, `annp/NS/NAME`, `netpol/NS/NAME`, ...) from a running
    /// testbed and program its Nodes (needs root).
    Delete {
        /// The testbed prefix.
        #[arg(long, value_name = "PREFIX")]
        testbed: String,
        /// Objects to delete: `acnp/NAME`, `annp/NS/NAME`, `netpol/NS/NAME`, `cg/NAME`, ...
        #[arg(value_name = "KEY", required = true)]
        keys: Vec<String>,
    },
    /// Serve a testbed's rule counters as Prometheus metrics on `/metrics` (needs root):
    /// tierwall_rule_{sessions,packets,bytes}_total{policy_kind,namespace,policy,rule,direction,node},
    /// read from nftables on every scrape. Packets and bytes are those of each session's first
    /// packet (the only one a rule counter sees).
    Metrics {
        /// The testbed prefix.
        #[arg(long, value_name = "PREFIX")]
        testbed: String,
        /// Address the HTTP endpoint listens on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9100")]
        listen: std::net::SocketAddr,
        /// Print the exposition once to stdout and exit.
        #[arg(long)]
        once: bool,
    },
    /// Run the controller of a cluster over a watched manifest directory (long-running).
    ///
    /// Every file change goes through admission (a file that does not load, or an object that
    /// is rejected, is logged with file:line and the previous version stays in force) and reaches
    /// the Nodes: with --testbed the in-process nftables agents of a testbed (needs root),
    /// otherwise no dataplane (engine only). Prints the API URL on stdout; logs one line per
    /// change on stderr. HTTP API (loopback, JSON): GET /objects /status /inventory /stats
    /// /healthz, PUT and DELETE /objects/KIND[/NAMESPACE]/NAME (written as files in the
    /// directory). Stops on SIGINT or SIGTERM.
    Controller(commands::controller::ControllerArgs),
    /// The agent of one Node, as its own process: reads the Node's rule set from the
    /// controller's stream (HTTP/2, mutual TLS with the identity the controller issued),
    /// programs the Node's nftables table, writes np.log and reports back. When the controller
    /// is gone the table keeps enforcing; a restarted agent adopts the table it finds.
    Agent(commands::agent::AgentArgs),
    /// The NSX-style central manager: Groups, Security Policies and Rules over the NSX Policy REST
    /// API (HTTPS, or plain HTTP with --insecure-http), in a fsynced store; `export`/`import`
    /// move its state as JSON. The user admin's password comes from TIERWALL_ADMIN_PASSWORD.
    Manager(manager_cmd::ManagerArgs),
    /// The adapter of one cluster: the manager's policies and groups that span it become Antrea
    /// objects through the cluster's controller (drift is overwritten within seconds, unmanaged
    /// objects are never touched); inventory, group members, realization, rule statistics and a
    /// heartbeat go back to the manager. Authenticates with a client certificate (CN = cluster
    /// id), or with Basic over --insecure-http. Stops on SIGINT or SIGTERM.
    Adapter(commands::adapter::AdapterArgs),
    /// Read a manager over its NSX Policy API: `nsx get groups|policies|rules|stats|clusters`
    /// as kubectl tables (`-o wide|json|yaml`); `nsx trace` explains one flow through its DFW
    /// rules. The password of --user (default admin) comes from
    /// TIERWALL_ADMIN_PASSWORD (or the variable named by --password-env).
    Nsx(commands::nsx::NsxArgs),
    /// A cluster built from Linux network namespaces on this machine (needs root).
    Testbed {
        #[command(subcommand)]
        command: TestbedCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TestbedCommand {
    /// Build a testbed (the standard cluster unless -f gives Nodes and Pods) and leave it running;
    /// prints its name prefix. Its Nodes enforce the policies of -f, which are stored with the
    /// testbed for `apply`, `delete`, `get stats` and `metrics`.
    Up {
        #[command(flatten)]
        input: InputArgs,
        /// Name prefix (lowercase letters and digits, at most 12); default: random.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Remove a testbed (or all of them) with everything it created.
    Down {
        /// The prefix printed by `testbed up`.
        prefix: Option<String>,
        /// Remove every testbed on this machine.
        #[arg(long, conflicts_with = "prefix")]
        all: bool,
    },
    /// List the testbeds on this machine.
    List,
    /// Send one real probe on a running testbed and print `Connected`, `Dropped` or `Rejected`.
    ///
    /// For example `tierwall testbed probe st x/a y/b 80/TCP`. The exit status is 0 whatever
    /// the outcome, 1 when the testbed, an endpoint or the port is unknown or malformed.
    Probe {
        /// The prefix printed by `testbed up`.
        prefix: String,
        /// Where the probe starts: ns/pod, node:NAME or external:NAME.
        source: String,
        /// Where it goes: ns/pod, node:NAME, external:NAME, service:NS/NAME (its ClusterIP) or an
        /// IP address.
        destination: String,
        /// `PORT[/PROTOCOL]` (TCP, UDP or SCTP; default TCP), `PROTOCOL/PORT`, or `ICMP`.
        #[arg(value_name = "PORT/PROTO")]
        port: String,
    },
    /// The in-namespace probe helper (servers and probe clients); used by the testbed itself.
    /// `agent`: its name in testbeds built before it was renamed.
    #[command(hide = true, alias = "agent")]
    ProbeHelper {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Run scenario files or directories; prints one line per file and a summary.
    Run {
        /// Files or directories (searched recursively for *.yaml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print every mismatch of failing files (default: at most 20 per file).
        #[arg(long)]
        verbose: bool,
        /// Run on real packets: build the network-namespace testbed for each file, program
        /// nftables on every Node and probe every asserted pair (needs root).
        #[arg(long)]
        dataplane: bool,
    },
}

/// Runs the CLI with the given arguments, writing to `out` and `err`; returns the exit status
/// (0 success, 1 failure or invalid input, 2 usage error).
pub fn run_with<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let stream: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = write!(stream, "{}", e.render());
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    match dispatch(cli.command, out, err) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e:#}");
            1
        }
    }
}

fn dispatch(command: Command, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match command {
        Command::Validate {
            paths,
            files,
            cluster,
        } => {
            let mut all = files;
            all.extend(paths);
            if all.is_empty() {
                anyhow::bail!("nothing to validate: give manifest files or directories (-f PATH)");
            }
            commands::validate::run(&all, cluster, out)
        }
        Command::Get {
            resource,
            input,
            output,
            sort_by,
            testbed,
        } => {
            if resource == "stats" {
                let prefix =
                    testbed.ok_or_else(|| anyhow::anyhow!("get stats needs --testbed PREFIX"))?;
                return commands::stats::run(&prefix, output, out);
            }
            // Check the resource type before loading anything.
            commands::get::parse_resource(&resource)?;
            let engine = input::build_engine(&input, err)?;
            let opts = commands::get::GetOptions {
                resource,
                output,
                sort_by,
            };
            commands::get::run(&engine, &opts, output::now(), out, err)
        }
        Command::Trace {
            input,
            source,
            destination,
            transport,
            output,
            dns,
            live,
        } => {
            let transport = transport.transport()?;
            let dns = dns
                .iter()
                .map(|d| commands::trace::parse_dns(d))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut engine = input::build_engine(&input, err)?;
            for (name, ips) in dns {
                engine.set_dns(&name, ips);
            }
            let opts = commands::trace::TraceOptions {
                source,
                destination,
                transport,
                output,
            };
            let code = commands::trace::run(&engine, &opts, out)?;
            if live {
                commands::trace::run_live(engine, &opts, out)?;
            }
            Ok(code)
        }
        Command::Matrix {
            input,
            transport,
            pods,
        } => {
            let transport = transport.transport()?;
            let engine = input::build_engine(&input, err)?;
            commands::matrix::run(
                &engine,
                &commands::matrix::MatrixOptions { transport, pods },
                out,
            )
        }
        Command::Scenario {
            command:
                ScenarioCommand::Run {
                    paths,
                    verbose,
                    dataplane,
                },
        } => commands::scenario::run(&paths, verbose, dataplane, out),
        Command::Apply { testbed, files } => commands::apply::apply(&testbed, &files, out, err),
        Command::Delete { testbed, keys } => commands::apply::delete(&testbed, &keys, out, err),
        Command::Metrics {
            testbed,
            listen,
            once,
        } => commands::metrics::run(&testbed, listen, once, out, err),
        Command::Controller(args) => commands::controller::run(&args, out, err),
        Command::Agent(args) => commands::agent::run(&args),
        Command::Manager(args) => manager_cmd::run(args, out, err),
        Command::Adapter(args) => commands::adapter::run(&args, err),
        Command::Nsx(args) => commands::nsx::run(&args, output::now(), out, err),
        Command::Testbed { command } => commands::testbed::run(command, out, err),
        Command::Demo => {
            let probe_helper = commands::testbed::probe_helper_command()?;
            let report =
                tierwall_lab::demo::run(out, Some(probe_helper)).map_err(anyhow::Error::msg)?;
            Ok(u8::from(!report.disagreements.is_empty()))
        }
    }
}

/// Runs the CLI on the process's stdout and stderr.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // The unlocked handles lock per write: a long-running command (adapter, controller) also
    // logs from runtime worker threads, which would block forever on a lock held by this thread.
    let code = run_with(args, &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (u8, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run_with(
            std::iter::once("tierwall").chain(args.iter().copied()),
            &mut out,
            &mut err,
        );
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tierwall-cli-lib-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p
    }

    #[test]
    fn get_tiers_without_inputs_lists_the_system_tiers() {
        let (code, out, err) = run(&["get", "tiers"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.starts_with("NAME          PRIORITY\napplication   250\n"),
            "{out}"
        );
        assert_eq!(err.trim_end(), input::STANDARD_CLUSTER_NOTE);
        let (code, _, err) = run(&["get", "tiers", "--cluster", "inputs"]);
        assert_eq!((code, err.as_str()), (0, ""));
    }

    #[test]
    fn validate_reports_problems_with_their_place() {
        let bad = temp_file(
            "bad.yaml",
            "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: ok}\nspec: {priority: 10}\n---\napiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: p}\nspec:\n  tier: no-such-tier\n  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingress: [{action: Drop}]\n",
        );
        let path = bad.display().to_string();
        let (code, out, _) = run(&["validate", "-f", &path]);
        assert_eq!(code, 1, "{out}");
        let first = out.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("{path}:10:3: ClusterNetworkPolicy p: spec.tier: ")),
            "{out}"
        );
        assert!(out.ends_with("1 objects valid, 1 invalid\n"), "{out}");
        let (code, out, err) = run(&["validate"]);
        assert_eq!(code, 1, "{out}");
        assert!(err.contains("nothing to validate"), "{err}");
    }

    #[test]
    fn usage_errors_exit_2() {
        let (code, _, err) = run(&["get"]);
        assert_eq!(code, 2);
        assert!(err.contains("RESOURCE"), "{err}");
        let (code, _, err) = run(&["get", "pods"]);
        assert_eq!(code, 1);
        assert!(
            err.starts_with("error: unsupported resource type \"pods\""),
            "{err}"
        );
        let (code, out, _) = run(&["--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("validate"), "{out}");
    }

    #[test]
    fn trace_and_matrix_need_a_transport() {
        let (code, _, err) = run(&["trace", "-S", "x/a", "-D", "y/b"]);
        assert_eq!(code, 1);
        assert!(err.contains("--port"), "{err}");
        let (code, out, err) = run(&["trace", "-S", "x/a", "-D", "y/b", "--protocol", "ICMP"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.ends_with("Result: Connected (Egress and Ingress both allow)\n"),
            "{out}"
        );
        let (code, out, err) = run(&["matrix", "--port", "80", "--pods", "x/a,y/b"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.starts_with("    x/a y/b\nx/a -   .\ny/b .   -\n"),
            "{out}"
        );
    }
}
