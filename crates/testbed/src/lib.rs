//! tierwall testbed: a whole cluster built out of Linux network namespaces on this machine, so
//! that policies can be tested with real packets.
//!
//! ```text
//!   netns <p>-fabric ─────── bridge br0 (plain L2, no addresses) ───────────────────────
//!      │ n0                  │ n1                  │ n2                  │ e0     (veths)
//!      │ eth0 172.18.0.2/16  │ eth0 172.18.0.3/16  │ eth0 172.18.0.4/16  │ eth0 192.168.100.7/32
//!   ┌──┴──────────────┐   ┌──┴──────────────┐   ┌──┴──────────────┐   ┌──┴──────────────┐
//!   │ <p>-node-0      │   │ <p>-node-1      │   │ <p>-node-2      │   │ <p>-ext-ext-1   │
//!   │ ip_forward=1    │   │ (same as        │   │ (same as        │   │ default dev eth0│
//!   │ default dev eth0│   │  node-0)        │   │  node-0)        │   │ Pod IPs via     │
//!   │ table           │   │                 │   │                 │   │ their Node      │
//!   │  ip tierwall-svc│   │                 │   │                 │   │ helper: servers │
//!   │ helper: node and│   │                 │   │                 │   └─────────────────┘
//!   │ hostNetwork     │   │                 │   │                 │
//!   │ Pods' servers   │   │                 │   │                 │
//!   └──┬───────────┬──┘   └─────────────────┘   └─────────────────┘
//!      │ tw<hash>  │ tw<hash>   Node side: proxy ARP, route <podIP>/32 dev tw<hash>
//!      │ eth0      │ eth0       Pod side: <podIP>/32, default via 169.254.1.1 (link-local)
//!   ┌──┴─────┐  ┌──┴─────┐
//!   │ <p>-x-a│  │ <p>-y-a│  one netns per Pod (x/a, y/a, z/a on node-0); helper: servers
//!   └────────┘  └────────┘
//! ```
//!
//! **Naming.** Prefix `<p>` = `tw` + 4 random hex digits (or [`TestbedOptions::prefix`]), so
//! several testbeds coexist. Namespaces: `<p>-fabric`, `<p>-<node name>` (`<p>-node-0`),
//! `<p>-<namespace>-<pod>` (`<p>-x-a`), `<p>-ext-<name>`; a clash or an over-long name gets a
//! hash suffix. Interfaces: `eth0` in Nodes, Pods and externals; `n<i>`/`e<i>` on the bridge;
//! the Node side of a Pod's veth is `tw` + 11 hex digits of SHA-1(`namespace/name`)
//! ([`layout::pod_veth_name`], ≤ 15 characters, the same in every testbed of a cluster).
//! State: `/run/tierwall/testbeds/<p>.json` (and `<p>.log`, the probe helpers' stderr).
//!
//! **Routing.** Every Node has `default dev eth0` (everything else is on the fabric), a /32 route
//! to each local Pod through its veth and to each other Pod via that Pod's Node. Extra Node IPs
//! (gateway, transport) are /32 on `eth0`. Node IPs are /16 unless every Node fits
//! [`TestbedOptions::node_cidr`]. Externals route Pod IPs via their Nodes; they do not route
//! ClusterIPs.
//!
//! **Services** ([`services`]): table `ip tierwall-svc` in each Node netns: ClusterIP:port and
//! (type NodePort/LoadBalancer) NodeIP:nodePort → backend PodIP:targetPort by DNAT in
//! prerouting and output, a named targetPort resolved per backend, several backends by
//! `numgen random` ([`BackendChoice`]). No SNAT: the backend sees the client address; replies of
//! connections that came in from another Node are routed back through that Node (a conntrack
//! mark and policy routing), so a NodePort DNATed to a backend elsewhere still works. Only the
//! hairpin case (a Pod reaching itself through a Service) is SNATed to the Node IP. A Service
//! port without backends rejects (TCP RST, ICMP port unreachable otherwise). The return path
//! uses bits `0x00ff0000` of the conntrack mark and the packet mark
//! ([`layout::RETURN_MARK_MASK`]); other rulesets in a Node netns must leave them alone.
//!
//! **Servers and probes** ([`probe_helper`]): every Pod runs `tierwall-probe-helper serve` in its netns
//! for its declared container ports (TCP and SCTP: accept, greet with the client address seen,
//! echo; UDP: answer with the same). Node netns serve [`TestbedOptions::node_ports`] plus their
//! hostNetwork Pods' ports; externals serve [`TestbedOptions::external_ports`]. The kernel
//! answers ping. [`Testbed::probe`] runs `tierwall-probe-helper probe` in the source netns; many probes run in
//! parallel ([`Testbed::probe_many`]: one probe helper per source, one thread per probe), so an 81-pair
//! matrix takes about one probe timeout. Outcomes: Connected, Dropped (no answer within
//! [`TestbedOptions::probe_timeout`], 1 s by default), Rejected (TCP RST, SCTP ABORT, ICMP
//! unreachable port/protocol/administratively prohibited); see [`probe_helper::client`].
//!
//! **Cluster DNS** ([`dns`]): every Node netns has 169.254.20.10 on `lo` with a DNS server
//! (UDP and TCP) answering `<svc>.<ns>.svc.cluster.local` from the Services (headless: Pod IPs;
//! otherwise the ClusterIP) and extra records; [`Testbed::resolve`] queries it from a Pod.
//!
//! **Changes while it runs** ([`runtime`]): [`Testbed::reconcile`] (or [`Testbed::plan_changes`]
//! then [`Testbed::apply_changes`]) makes the testbed follow its cluster: Pods added, removed,
//! moved, re-addressed or given other ports, Nodes added, removed or re-addressed; labels need
//! nothing. [`Testbed::flush_conntrack`] empties the Nodes' conntrack tables between rounds of
//! probes.
//!
//! **Lifetime.** [`Testbed::up`] returns a guard: dropping it (a failed test, a panic) removes
//! everything; [`Testbed::detach`] leaves the testbed running for later [`Testbed::attach`] /
//! [`down_by_prefix`] (the CLI's `testbed up` / `down`). Teardown kills every process inside the
//! testbed's namespaces (found through `/proc/*/ns/net`), deletes the namespaces (which removes
//! every veth and the bridge with them) and the state file. Nothing is ever created in the
//! host's namespace: links are created inside our namespaces, all configuration runs through
//! `ip -n <ns>` / `ip netns exec <ns>`.
//!
//! **Use** (as root):
//!
//! ```no_run
//! use tierwall_testbed::{Endpoint, Outcome, Testbed, TestbedOptions, Transport};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let cluster = tierwall_engine::Engine::new().cluster().clone();
//! // `cluster`: an engine's `Cluster`, e.g. after applying `ClusterModel::standard().objects()`.
//! let tb = Testbed::up(&cluster, TestbedOptions::default())?;
//! let r = tb.probe(&Endpoint::pod("x", "a"), "10.10.2.12".parse()?, Transport::Tcp(80))?;
//! assert_eq!(r.outcome, Outcome::Connected);
//! let veth = tb.pod_veth_on_node("y", "b")?.to_string(); // match it in node-1's ruleset
//! tb.apply_nft_json("node-1", r#"{"nftables": []}"#)?;
//! tb.down()?; // or just drop `tb`
//! # let _ = veth; Ok(()) }
//! ```
//!
//! **Not modelled.** IPv6 (IPv4 only; an IPv6 Pod or Node address is an error), pod CIDRs (Pods
//! get /32 routes), encapsulation/tunnels, the Antrea gateway interface (a Node reaches its Pods
//! from its Node IP), kube-proxy's SNAT for NodePort/externalTrafficPolicy, session affinity,
//! Services without selector (they have no backends, so they reject), ExternalName Services,
//! external access to ClusterIPs, a Node reaching its own Pod through another Node's
//! NodePort. SCTP is served and probed only if the kernel creates SCTP sockets
//! ([`Testbed::has_sctp`]).

mod build;
mod commands;
pub mod dns;
pub mod error;
mod exec;
pub mod layout;
pub mod options;
pub mod probe;
pub mod probe_helper;
pub mod runtime;
pub mod services;
pub mod state;
mod teardown;
mod testbed;

pub use error::TestbedError;
pub use layout::{ExternalLayout, Layout, NodeLayout, PodLayout};
pub use options::{BackendChoice, ProbeHelperCommand, TestbedOptions};
pub use probe::{Endpoint, Probe, ProbeResult, Transport};
pub use runtime::TestbedChanges;
pub use teardown::{down_all, down_by_prefix, list};
pub use testbed::Testbed;
pub use tierwall_engine::Outcome;
