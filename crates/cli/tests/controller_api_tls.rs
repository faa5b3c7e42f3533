//! The controller's HTTP API beyond loopback (`--listen 0.0.0.0:0 --pki DIR`): HTTPS only, and
//! every client needs a certificate from the controller's CA. The admin identity the controller
//! writes to `DIR/clients/admin` reads and writes; a Node's identity gets 403 (it is for the
//! Node stream); no certificate, or one from another CA, is refused at the TLS layer; plain HTTP
//! gets no answer; without `--pki` the controller refuses to start and says why.

mod common;

use common::{Proc, temp_dir, tierwall};
use std::path::Path;
use std::time::Duration;
use tierwall_controller::pki::CertificateAuthority;

const INVENTORY: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {ns: x}}\n";

const TIER: &str =
    "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: ops}\nspec: {priority: 10}\n";

fn client(ca_pem: &[u8], identity: Option<&Path>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem).unwrap_or_else(|e| panic!("{e}"))])
        .timeout(Duration::from_secs(5));
    if let Some(dir) = identity {
        let mut pem = std::fs::read(dir.join("tls.crt")).unwrap_or_else(|e| panic!("{e}"));
        pem.extend(std::fs::read(dir.join("tls.key")).unwrap_or_else(|e| panic!("{e}")));
        builder =
            builder.identity(reqwest::Identity::from_pem(&pem).unwrap_or_else(|e| panic!("{e}")));
    }
    builder.build().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn beyond_loopback_the_api_is_https_with_client_certificates() {
    let dir = temp_dir("api-tls");
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(manifests.join("inventory.yaml"), INVENTORY).unwrap_or_else(|e| panic!("{e}"));
    let pki = dir.join("pki");
    let (manifests_arg, pki_arg) = (manifests.display().to_string(), pki.display().to_string());

    let refused = tierwall(&[
        "controller",
        "--manifests",
        &manifests_arg,
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--pki"), "{err}");

    let mut controller = Proc::spawn(
        &[
            "controller",
            "--manifests",
            &manifests_arg,
            "--listen",
            "0.0.0.0:0",
            "--pki",
            &pki_arg,
            "--poll-ms",
            "50",
        ],
        true,
    );
    let port = controller
        .first_line
        .strip_prefix("https://0.0.0.0:")
        .unwrap_or_else(|| panic!("{:?}\n{}", controller.first_line, controller.log()))
        .to_string();
    let base = format!("https://127.0.0.1:{port}");
    let ca = std::fs::read(pki.join("ca.crt")).unwrap_or_else(|e| panic!("{e}"));
    let admin = pki.join("clients").join("admin");

    // The admin identity reads and writes.
    let as_admin = client(&ca, Some(&admin));
    let health = as_admin
        .get(format!("{base}/healthz"))
        .send()
        .unwrap_or_else(|e| panic!("{e}\n{}", controller.log()));
    assert_eq!(health.status(), 200);
    let put = as_admin
        .put(format!("{base}/objects/tr/ops"))
        .body(TIER)
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(put.status(), 201, "{:?}", put.text());
    assert_eq!(
        std::fs::read_dir(&manifests)
            .map(|d| d.count())
            .unwrap_or(0),
        2,
        "the Tier's file beside the inventory"
    );

    // A Node's identity is for the Node stream only.
    let node = dir.join("node-0");
    CertificateAuthority::open_or_create(&pki)
        .and_then(|ca| ca.write_node_identity("node-0", &node))
        .unwrap_or_else(|e| panic!("{e}"));
    let as_node = client(&ca, Some(&node));
    let answer = as_node
        .get(format!("{base}/objects"))
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status(), 403);
    let text = answer.text().unwrap_or_default();
    assert!(text.contains("system:node:node-0"), "{text}");

    // No certificate, or one of another CA: refused by TLS, no HTTP answer at all.
    assert!(
        client(&ca, None)
            .get(format!("{base}/healthz"))
            .send()
            .is_err()
    );
    let other = CertificateAuthority::open_or_create(&dir.join("other-pki"))
        .unwrap_or_else(|e| panic!("{e}"));
    let foreign = dir.join("foreign");
    other
        .write_client_identity("admin", &foreign)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        client(&ca, Some(&foreign))
            .get(format!("{base}/healthz"))
            .send()
            .is_err()
    );
    // Plain HTTP on the HTTPS port: no HTTP answer.
    let plain = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(5))
        .send();
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));

    assert!(controller.terminate(), "SIGTERM\n{}", controller.log());
    let _ = std::fs::remove_dir_all(&dir);
}
