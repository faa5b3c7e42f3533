//! Where and as whom `tierwall nsx` reaches the manager: the options every subcommand shares,
//! turned into a [`ManagerClient`] (Basic credentials; the system's roots or `--ca`), and the
//! single-threaded runtime its requests run on.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::time::Duration;
use tierwall_manager_client::{ManagerAuth, ManagerClient, TlsTrust};

/// The environment variable holding the password by default.
pub const DEFAULT_PASSWORD_ENV: &str = "TIERWALL_ADMIN_PASSWORD";

/// How long one request of `tierwall nsx` may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and as whom to reach the manager (the options `nsx get` and `nsx trace` share).
#[derive(Debug, Clone, clap::Args)]
pub struct ManagerConnectionArgs {
    /// Base URL of the manager (`https://HOST:PORT`, or `http://` with --insecure-http).
    #[arg(long, value_name = "URL", env = "TIERWALL_MANAGER")]
    pub manager: String,
    /// The user (Basic authentication).
    #[arg(long, value_name = "NAME", default_value = "admin")]
    pub user: String,
    /// The environment variable that holds the user's password.
    #[arg(long, value_name = "VAR", default_value = DEFAULT_PASSWORD_ENV)]
    pub password_env: String,
    /// Talk plain HTTP (the manager runs with --insecure-http).
    #[arg(long, conflicts_with = "ca")]
    pub insecure_http: bool,
    /// PEM CA certificate that signs the manager's server certificate (default: the system's).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

impl ManagerConnectionArgs {
    /// A client of the manager as the user, after checking that the URL's scheme agrees with
    /// `--insecure-http`.
    pub fn client(&self) -> anyhow::Result<ManagerClient> {
        let base = self.manager.trim_end_matches('/');
        if base.starts_with("http://") && !self.insecure_http {
            bail!("{base} is plain HTTP: add --insecure-http (or use https:// with --ca FILE)");
        }
        if base.starts_with("https://") && self.insecure_http {
            bail!("--insecure-http needs an http:// manager URL, not {base}");
        }
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("the manager URL must start with https:// (or http:// with --insecure-http)");
        }
        let password = std::env::var(&self.password_env).with_context(|| {
            format!(
                "the password of {} must be in the environment variable {}",
                self.user, self.password_env
            )
        })?;
        let trust = match &self.ca {
            Some(ca) => TlsTrust::CaPem(
                std::fs::read_to_string(ca)
                    .with_context(|| format!("cannot read {}", ca.display()))?,
            ),
            None => TlsTrust::System,
        };
        let auth = ManagerAuth::Basic {
            user: self.user.clone(),
            password,
        };
        Ok(ManagerClient::new(base, &auth, &trust)
            .with_context(|| format!("cannot build the HTTP client of {base}"))?
            .with_timeout(REQUEST_TIMEOUT))
    }
}

/// The single-threaded runtime the manager requests of one command run on.
pub fn http_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")
}
