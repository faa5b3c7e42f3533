//! The Node stream over real TLS on loopback: a Node reads its own rule set (full, then a
//! delta per change), another Node's set answers 403, an unknown Node 404, a certificate from
//! another CA is refused at the TLS layer, and a reconnect with the generation held resumes
//! without a full set.

use std::sync::Arc;
use std::time::Duration;
use tierwall_controller::node_stream::{NodeStreamServer, server_tls};
use tierwall_controller::pki::CertificateAuthority;
use tierwall_controller::rule_set_index::RuleSetIndex;
use tierwall_node_api::{NodeRuleSet, StreamMessage};

fn rule_set(node: &str, ips: usize) -> NodeRuleSet {
    NodeRuleSet {
        node: node.into(),
        node_ips: (0..ips)
            .map(|i| format!("172.18.0.{}", i + 2).parse().unwrap())
            .collect(),
        pods: Vec::new(),
        ingress: Default::default(),
        egress: Default::default(),
    }
}

fn client(
    ca: &CertificateAuthority,
    identity_of: &CertificateAuthority,
    node: &str,
) -> reqwest::Client {
    let id = identity_of.issue_node(node).unwrap();
    let pem = format!("{}{}", id.cert_pem, id.key_pem);
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap()])
        .identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap())
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

async fn next_line(response: &mut reqwest::Response, pending: &mut Vec<u8>) -> StreamMessage {
    loop {
        if let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            return StreamMessage::from_line(&line).unwrap();
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("a message within 5 s")
            .unwrap()
            .expect("the stream goes on");
        pending.extend_from_slice(&chunk);
    }
}

#[test]
fn a_node_reads_its_own_rule_set_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::open_or_create(&dir.path().join("pki")).unwrap();
    let index = Arc::new(RuleSetIndex::with_epoch(7));
    index.publish(rule_set("node-0", 1));
    index.publish(rule_set("node-1", 1));
    let server = NodeStreamServer::start(
        Arc::clone(&index),
        server_tls(&ca, &[]).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let base = format!("https://127.0.0.1:{}", server.local_addr().port());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(talk(&ca, &index, &base, dir.path()));
    server.stop();
}

async fn talk(ca: &CertificateAuthority, index: &RuleSetIndex, base: &str, dir: &std::path::Path) {
    let node0 = client(ca, ca, "node-0");
    let mut stream = node0
        .get(format!("{base}/v1/nodes/node-0/rule-set"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut pending = Vec::new();
    let first = next_line(&mut stream, &mut pending).await;
    let StreamMessage::Full {
        generation,
        rule_set: got,
    } = first
    else {
        panic!("first message is the full set: {first:?}");
    };
    assert_eq!((generation.epoch, generation.number), (7, 1));
    assert_eq!(got, rule_set("node-0", 1));

    // A change: one delta with the next generation.
    index.publish(rule_set("node-0", 2));
    let StreamMessage::Delta {
        base: b,
        generation: g,
        delta,
    } = next_line(&mut stream, &mut pending).await
    else {
        panic!("a change is a delta");
    };
    assert_eq!((b.number, g.number), (1, 2));
    assert_eq!(delta.apply(&got).unwrap(), rule_set("node-0", 2));
    // Publishing an equal set makes no generation.
    assert!(!index.publish(rule_set("node-0", 2)));

    // Another Node's set: 403, with a message naming both.
    let other = node0
        .get(format!("{base}/v1/nodes/node-1/rule-set"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    let body = other.text().await.unwrap();
    assert!(body.contains("node-0") && body.contains("node-1"), "{body}");

    // An unknown Node: 404 with a clear message.
    let node9 = client(ca, ca, "node-9");
    let unknown = node9
        .get(format!("{base}/v1/nodes/node-9/rule-set"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("is not a Node of this cluster")
    );

    // A certificate from another CA: refused during the handshake, no HTTP status at all.
    let stranger = CertificateAuthority::open_or_create(&dir.join("other")).unwrap();
    let refused = client(ca, &stranger, "node-0")
        .get(format!("{base}/v1/nodes/node-0/rule-set"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a foreign certificate must not get an answer"
    );

    // Resuming from the generation held: no full set, only what was missed.
    drop(stream);
    index.publish(rule_set("node-0", 3));
    let mut resumed = node0
        .get(format!(
            "{base}/v1/nodes/node-0/rule-set?generation={}",
            g.to_query()
        ))
        .send()
        .await
        .unwrap();
    let mut pending = Vec::new();
    match next_line(&mut resumed, &mut pending).await {
        StreamMessage::Delta {
            base, generation, ..
        } => {
            assert_eq!((base.number, generation.number), (2, 3))
        }
        other => panic!("resume gets the missed change, not {other:?}"),
    }
    // A generation of another controller run: the full set.
    let mut stale = node0
        .get(format!(
            "{base}/v1/nodes/node-0/rule-set?generation=00000000000000ff.2"
        ))
        .send()
        .await
        .unwrap();
    let mut pending = Vec::new();
    assert!(matches!(
        next_line(&mut stale, &mut pending).await,
        StreamMessage::Full { .. }
    ));
    drop((resumed, stale));
}
