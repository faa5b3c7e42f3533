//! TLS for the manager: the server certificate (given, or self-signed and kept in the data
//! directory), and client certificates of adapter principal identities.
//!
//! Two ways to trust a client certificate:
//! * **pinned** (the default, as NSX does): the handshake accepts any certificate whose
//!   signature proves the key; the API then accepts it only if it is byte-for-byte the
//!   `certificate` registered on `cluster-control-planes/{CN}`.
//! * **client CA** (`--client-ca`): rustls verifies the chain to that CA; the CN must name a
//!   registered cluster.
//!
//! Clients without a certificate are accepted at the TLS level and then authenticate with a
//! session or Basic.

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors setting up TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("generating the self-signed certificate: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Where the TLS material comes from.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// PEM certificate chain of the server; with `key`. None: self-signed in the data dir.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// PEM CA certificates that sign adapter certificates. None: pinned certificates.
    pub client_ca: Option<PathBuf>,
}

/// The process-wide crypto provider (aws-lc-rs), installed once.
pub fn provider() -> Arc<CryptoProvider> {
    if let Some(p) = CryptoProvider::get_default() {
        return Arc::clone(p);
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    CryptoProvider::get_default()
        .map(Arc::clone)
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The server certificate and key: the given files, or `<data>/tls/server.{crt,key}`, created
/// self-signed (for localhost, 127.0.0.1 and ::1) on first start.
pub fn server_identity(
    files: &TlsFiles,
    data_dir: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let (cert_path, key_path) = match (&files.cert, &files.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => {
            let dir = data_dir.join("tls");
            let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
            if !c.exists() || !k.exists() {
                std::fs::create_dir_all(&dir).map_err(|e| file_error(&dir, e))?;
                let generated = rcgen::generate_simple_self_signed(vec![
                    "localhost".to_string(),
                    "127.0.0.1".to_string(),
                    "::1".to_string(),
                ])
                .map_err(|e| TlsError::Generate(e.to_string()))?;
                std::fs::write(&c, generated.cert.pem()).map_err(|e| file_error(&c, e))?;
                write_private(&k, &generated.signing_key.serialize_pem())?;
            }
            (c, k)
        }
        _ => {
            return Err(TlsError::Config(
                "--tls-cert and --tls-key go together".into(),
            ));
        }
    };
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| file_error(&cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(&cert_path, e))?;
    if certs.is_empty() {
        return Err(file_error(&cert_path, "no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| file_error(&key_path, e))?;
    Ok((certs, key))
}

fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_error(path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| file_error(path, e))
}

/// The rustls server configuration: HTTP/1.1 and h2, client certificates optional.
pub fn server_config(
    files: &TlsFiles,
    data_dir: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let (certs, key) = server_identity(files, data_dir)?;
    let verifier: Arc<dyn ClientCertVerifier> = match &files.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| file_error(ca, e))? {
                roots
                    .add(cert.map_err(|e| file_error(ca, e))?)
                    .map_err(|e| file_error(ca, e))?;
            }
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&provider),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?
        }
        None => Arc::new(PinnedClientCerts {
            provider: Arc::clone(&provider),
        }),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any client certificate whose handshake signature is valid; the API layer pins it
/// to the certificate registered for the cluster its CN names.
#[derive(Debug)]
struct PinnedClientCerts {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for PinnedClientCerts {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The subject CommonName of a DER certificate.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// The DER of the first certificate in a PEM text.
pub fn first_certificate_der(pem: &str) -> Option<Vec<u8>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()
        .map(|c| c.as_ref().to_vec())
}

/// A self-signed client certificate and key (PEM) with the given CN, for principal identities.
pub fn self_signed_client_identity(common_name: &str) -> Result<(String, String), TlsError> {
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identities_carry_their_common_name() {
        let (cert, key) =
            self_signed_client_identity("prod-cluster-1").unwrap_or_else(|e| panic!("{e}"));
        assert!(key.contains("PRIVATE KEY"));
        let der = first_certificate_der(&cert).unwrap_or_default();
        assert_eq!(common_name(&der).as_deref(), Some("prod-cluster-1"));
        assert_eq!(first_certificate_der("not pem"), None);
    }

    #[test]
    fn the_server_certificate_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let files = TlsFiles::default();
        assert!(server_config(&files, dir.path()).is_ok());
        let first = std::fs::read(dir.path().join("tls/server.crt")).unwrap_or_default();
        assert!(server_config(&files, dir.path()).is_ok());
        let second = std::fs::read(dir.path().join("tls/server.crt")).unwrap_or_default();
        assert!(!first.is_empty());
        assert_eq!(first, second);
    }
}
