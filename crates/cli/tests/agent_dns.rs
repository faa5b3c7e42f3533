//! Privileged (root): FQDN rules with the Nodes' agents as processes. `tierwall controller
//! --testbed` starts one `tierwall agent` per Node; a Pod resolves a name through the testbed's
//! cluster DNS (a real query from its netns; the name is an extra record with a 2 s TTL), the
//! agent of its Node snoops the answer and reports the name, the controller turns it into the
//! FQDN rule's addresses and the Node enforces them: a connection that was allowed before the
//! answer is dropped after it, a Pod the policy does not apply to is not affected, and once the
//! TTL has passed the agent's cache drops the name, its next report says so and the connection
//! is allowed again. The testbed is removed even on failure.

mod common;

use common::{
    Guard, eventually, is_root, outcomes, standard_testbed, temp_dir, testbed_controller,
};
use std::time::Duration;
use tierwall_engine::Outcome::{Connected, Dropped};
use tierwall_testbed::dns::{DnsRecord, DnsTransport};
use tierwall_testbed::{Endpoint, Probe, Transport};

/// A name outside the cluster's own Service names (those the controller knows without DNS);
/// cluster DNS answers it with the address of Pod y/b.
const NAME: &str = "db.example.test";
const TTL: u32 = 2;

const POLICY: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: drop-db-by-name}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: a}}, namespaceSelector: {matchLabels: {ns: x}}}]
  egress:
  - {action: Drop, name: db, to: [{fqdn: "DB.example.test"}]}
"#;

#[test]
fn a_name_snooped_by_an_agent_process_becomes_the_fqdn_rules_addresses() {
    if !is_root() {
        eprintln!(
            "SKIPPED a_name_snooped_by_an_agent_process_becomes_the_fqdn_rules_addresses: needs root"
        );
        return;
    }
    let prefix = format!("twdn{}", std::process::id() % 100_000);
    let _guard = Guard(prefix.clone());
    let dir = temp_dir("agent-dns");
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(manifests.join("policy.yaml"), POLICY).unwrap_or_else(|e| panic!("{e}"));

    let testbed = standard_testbed(&prefix);
    let mut controller = testbed_controller(&prefix, &manifests, &dir, 3);

    let db_v4 = testbed
        .layout()
        .pods
        .get(&tierwall_testbed::layout::pod_key("y", "b"))
        .map(|p| p.ip)
        .unwrap_or_else(|| panic!("no Pod y/b in the testbed"));
    let db = std::net::IpAddr::V4(db_v4);
    let cluster = tierwall_lab::persisted::load(&prefix).unwrap_or_else(|e| panic!("{e}"));
    let records = [(
        NAME.to_string(),
        DnsRecord {
            ttl: TTL,
            addrs: vec![db_v4],
        },
    )]
    .into_iter()
    .collect();
    testbed
        .set_dns_records(cluster.cluster(), &records)
        .unwrap_or_else(|e| panic!("{e}"));
    let probes = [
        Probe::new(Endpoint::pod("x", "a"), db, Transport::Tcp(80)),
        Probe::new(Endpoint::pod("x", "b"), db, Transport::Tcp(80)),
    ];
    assert_eq!(
        outcomes(&testbed, &probes),
        [Connected, Connected],
        "before any answer the name has no addresses\n{}",
        controller.log()
    );

    let resolution = testbed
        .resolve(&Endpoint::pod("x", "a"), NAME, DnsTransport::Udp)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(resolution.resolved(), "{resolution:?}");

    eventually(
        "x/a -> db dropped after the answer",
        Duration::from_secs(10),
        || match outcomes(&testbed, &probes).as_slice() {
            [Dropped, Connected] => Ok(()),
            other => Err(format!("{other:?}\n{}", controller.log())),
        },
    );
    let log = controller.log();
    assert!(
        log.contains(&format!("DNS names reported by the agents changed: {NAME}")),
        "{log}"
    );
    // The record's TTL passes: the agent forgets the name, and so does the rule.
    eventually(
        "x/a -> db connected again after the TTL",
        Duration::from_secs(u64::from(TTL) + 10),
        || match outcomes(&testbed, &probes).as_slice() {
            [Connected, Connected] => Ok(()),
            other => Err(format!("{other:?}\n{}", controller.log())),
        },
    );
    assert!(controller.terminate(), "SIGTERM\n{}", controller.log());
    let _ = std::fs::remove_dir_all(&dir);
}
