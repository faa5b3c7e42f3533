//! `tierwall-manager-client` against a real manager over HTTPS: an NSX session (login once,
//! cookie and XSRF token on writes), typed reads of groups and policies, the errors that name
//! the request and its status, untrusted certificates, and a registration conflict.

mod common;

use common::serve;
use serde_json::json;
use tierwall_manager::tls::{TlsFiles, self_signed_client_identity};
use tierwall_manager_client::{
    ClientError, ClusterControlPlaneClient, ManagerAuth, ManagerClient, Registration, TlsTrust,
    api_paths,
};

#[tokio::test]
async fn sessions_typed_reads_errors_and_trust() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = serve(dir.path(), Some(TlsFiles::default())).await;
    let ca = std::fs::read_to_string(dir.path().join("tls/server.crt")).unwrap_or_default();
    let base = format!("https://127.0.0.1:{}", server.local_addr.port());
    let trust = TlsTrust::CaPem(ca);
    let session = |password: &str| {
        ManagerClient::new(
            &base,
            &ManagerAuth::Session {
                user: "admin".into(),
                password: password.into(),
            },
            &trust,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };

    // A session writes (with its XSRF token) and reads typed objects.
    let admin = session("admin-pw");
    let group = json!({"display_name": "web", "expression": [
        {"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.1"]}]});
    admin
        .put_json(&format!("{}/web", api_paths::groups()), &group)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let groups = admin.groups().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].meta.id, "web");
    assert_eq!(
        admin
            .security_policy("nope")
            .await
            .map(|p| p.is_none())
            .ok(),
        Some(true)
    );
    assert!(!admin.services().await.unwrap_or_default().is_empty());

    // A wrong password: the error names the login request and its status.
    let error = session("wrong").groups().await.err();
    assert!(
        matches!(&error, Some(ClientError::Status { status: 403, url, .. }) if url.ends_with("/api/session/create")),
        "{error:?}"
    );

    // Without the manager's CA its self-signed certificate is not trusted.
    let untrusted = ManagerClient::new(
        &base,
        &ManagerAuth::Basic {
            user: "admin".into(),
            password: "admin-pw".into(),
        },
        &TlsTrust::System,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        untrusted.groups().await,
        Err(ClientError::Transport { .. })
    ));

    // Registration: once, again (a no-op), and with another certificate (a conflict).
    let (cert, key) = self_signed_client_identity("c1").unwrap_or_else(|e| panic!("{e}"));
    let cluster = ClusterControlPlaneClient::new(
        &base,
        "c1",
        &ManagerAuth::Certificate {
            cert_pem: cert.clone(),
            key_pem: key,
        },
        &trust,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let admin_login = ("admin", "admin-pw");
    assert_eq!(
        cluster.register(&cert, admin_login).await.ok(),
        Some(Registration::Registered)
    );
    assert_eq!(
        cluster.register(&cert, admin_login).await.ok(),
        Some(Registration::AlreadyRegistered)
    );
    let (other, _) = self_signed_client_identity("c1").unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        cluster.register(&other, admin_login).await,
        Err(ClientError::CertificateConflict { .. })
    ));
    server.shutdown().await;
}
