//! The controller's certificate authority: it signs the controller's server certificate and one
//! client certificate per Node, whose common name (`system:node:NAME`) is the Node's identity on
//! the rule-set stream. Kept in a directory (`ca.crt`, `ca.key`, created on first use, the key
//! readable by its owner only); a Node's identity is written as `tls.crt`, `tls.key` and `ca.crt`.
//!
//! ```text
//!  <pki>/ca.crt, ca.key                      the CA (10 years)
//!  <pki>/server.crt, server.key              the stream server (localhost, 127.0.0.1, ::1, --san)
//!  issue_node(NAME, DIR) ──> DIR/tls.crt (CN=system:node:NAME, SAN NAME.node.tierwall), tls.key, ca.crt
//! ```

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use tierwall_node_api::stream::node_common_name;

/// Errors of the certificate authority.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("generating a certificate: {0}")]
    Generate(String),
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> PkiError {
    PkiError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn generate_error(e: impl std::fmt::Display) -> PkiError {
    PkiError::Generate(e.to_string())
}

/// The CA of one controller.
pub struct CertificateAuthority {
    dir: PathBuf,
    cert_pem: String,
    key: KeyPair,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// PEM certificate and key of one identity.
#[derive(Debug, Clone)]
pub struct IssuedIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl CertificateAuthority {
    /// Opens the CA in `dir`, creating it on first use.
    pub fn open_or_create(dir: &Path) -> Result<Self, PkiError> {
        let (cert_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
        if cert_path.exists() && key_path.exists() {
            let cert_pem =
                std::fs::read_to_string(&cert_path).map_err(|e| file_error(&cert_path, e))?;
            let key_pem =
                std::fs::read_to_string(&key_path).map_err(|e| file_error(&key_path, e))?;
            let key = KeyPair::from_pem(&key_pem).map_err(|e| file_error(&key_path, e))?;
            return Ok(CertificateAuthority {
                dir: dir.to_path_buf(),
                cert_pem,
                key,
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        let key = KeyPair::generate().map_err(generate_error)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(generate_error)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "tierwall controller CA");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let cert = params.self_signed(&key).map_err(generate_error)?;
        write_private(&key_path, &key.serialize_pem())?;
        std::fs::write(&cert_path, cert.pem()).map_err(|e| file_error(&cert_path, e))?;
        Ok(CertificateAuthority {
            dir: dir.to_path_buf(),
            cert_pem: cert.pem(),
            key,
        })
    }

    /// The directory the CA lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate (PEM): what agents trust, and what signs their identities.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    fn issue(
        &self,
        common_name: &str,
        sans: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<IssuedIdentity, PkiError> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(generate_error)?;
        let key = KeyPair::generate().map_err(generate_error)?;
        let mut params = CertificateParams::new(sans).map_err(generate_error)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let cert = params.signed_by(&key, &issuer).map_err(generate_error)?;
        Ok(IssuedIdentity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A client identity for Node `node`.
    pub fn issue_node(&self, node: &str) -> Result<IssuedIdentity, PkiError> {
        self.issue(
            &node_common_name(node),
            vec![format!("{node}.node.tierwall")],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    /// Writes Node `node`'s identity into `dir` (`tls.crt`, `tls.key`, `ca.crt`).
    pub fn write_node_identity(&self, node: &str, dir: &Path) -> Result<(), PkiError> {
        self.write_identity(&self.issue_node(node)?, dir)
    }

    /// A client identity of the controller's HTTP API (`CN=tierwall:client:NAME`): a person, an
    /// adapter. Node identities are refused there.
    pub fn issue_client(&self, name: &str) -> Result<IssuedIdentity, PkiError> {
        self.issue(
            &client_common_name(name),
            vec![format!("{name}.client.tierwall")],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    /// Writes API client `name`'s identity into `dir` (`tls.crt`, `tls.key`, `ca.crt`).
    pub fn write_client_identity(&self, name: &str, dir: &Path) -> Result<(), PkiError> {
        self.write_identity(&self.issue_client(name)?, dir)
    }

    fn write_identity(&self, identity: &IssuedIdentity, dir: &Path) -> Result<(), PkiError> {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        write_private(&dir.join("tls.key"), &identity.key_pem)?;
        let cert = dir.join("tls.crt");
        std::fs::write(&cert, &identity.cert_pem).map_err(|e| file_error(&cert, e))?;
        let ca = dir.join("ca.crt");
        std::fs::write(&ca, &self.cert_pem).map_err(|e| file_error(&ca, e))
    }

    /// The server identity of the stream (and of the API beyond loopback): `server.crt` and
    /// `server.key` in the CA's directory, issued for localhost, 127.0.0.1, ::1 and `extra`
    /// names; issued again when the names change.
    pub fn server_identity(&self, extra: &[String]) -> Result<IssuedIdentity, PkiError> {
        let mut sans = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        sans.extend(extra.iter().cloned());
        let names_path = self.dir.join("server.names");
        let (cert_path, key_path) = (self.dir.join("server.crt"), self.dir.join("server.key"));
        let names = sans.join("\n");
        if std::fs::read_to_string(&names_path).ok().as_deref() == Some(names.as_str())
            && let (Ok(cert_pem), Ok(key_pem)) = (
                std::fs::read_to_string(&cert_path),
                std::fs::read_to_string(&key_path),
            )
        {
            return Ok(IssuedIdentity { cert_pem, key_pem });
        }
        let identity = self.issue(
            "tierwall controller",
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        write_private(&key_path, &identity.key_pem)?;
        std::fs::write(&cert_path, &identity.cert_pem).map_err(|e| file_error(&cert_path, e))?;
        std::fs::write(&names_path, names).map_err(|e| file_error(&names_path, e))?;
        Ok(identity)
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), PkiError> {
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

/// The common name of API client `name`.
pub fn client_common_name(name: &str) -> String {
    format!("tierwall:client:{name}")
}

/// The API client a certificate's common name names.
pub fn client_of_common_name(common_name: &str) -> Option<&str> {
    common_name
        .strip_prefix("tierwall:client:")
        .filter(|n| !n.is_empty())
}
