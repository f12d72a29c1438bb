//! How to reach PostgreSQL: the URL, its password, TLS and the pool size.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use tokio_postgres::config::{Host, SslMode};

use crate::error::{Error, Result};

/// How long connecting (TCP, TLS and authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Server-side bounds of every session: no statement or lock wait runs longer, and a
/// transaction a crashed replica left open does not hold its locks.
/// The server probes an idle connection after 10 s and drops it after 3 unanswered
/// probes, so that a replica whose node died loses its singleton locks within about
/// 25 s, not the kernel's two hours.
const SESSION_OPTIONS: &str = "-c statement_timeout=60000 -c lock_timeout=30000 \
     -c idle_in_transaction_session_timeout=60000 -c tcp_keepalives_idle=10 \
     -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3";

/// A PostgreSQL store's connection settings.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// The URL as given, with `sslmode=verify-*` mapped to `require` (rustls always
    /// verifies).
    url: String,
    password: Option<String>,
    /// PEM CA certificates of the server's certificate; `None`: the Mozilla roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Connections of this replica's pool.
    pub pool_size: usize,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &self.to_string())
            .field("ca", &self.ca_pem.is_some())
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for PostgresSettings {
    /// `postgres://user@host:port/database`, never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Ok(config) = tokio_postgres::Config::from_str(&self.url) else {
            return write!(f, "postgres://(invalid)");
        };
        let user = config.get_user().unwrap_or("");
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = config.get_dbname().unwrap_or(user);
        write!(f, "postgres://{user}@{host}:{port}/{database}")
    }
}

impl PostgresSettings {
    /// Checks a `postgres://` URL.
    pub fn parse(url: &str) -> Result<Self> {
        let url = url
            .replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require");
        let config = tokio_postgres::Config::from_str(&url)
            .map_err(|err| Error::Config(format!("invalid PostgreSQL URL: {err}")))?;
        if config.get_user().is_none_or(str::is_empty) {
            return Err(Error::Config(
                "the PostgreSQL URL names no user (postgres://USER@HOST/DATABASE)".into(),
            ));
        }
        if config.get_hosts().is_empty() {
            return Err(Error::Config(
                "the PostgreSQL URL names no host (postgres://USER@HOST/DATABASE)".into(),
            ));
        }
        Ok(Self {
            url,
            password: None,
            ca_pem: None,
            pool_size: 16,
        })
    }

    /// True when the URL carries a password.
    pub fn has_password(&self) -> bool {
        tokio_postgres::Config::from_str(&self.url)
            .is_ok_and(|config| config.get_password().is_some())
    }

    /// Uses `password` instead of the URL's.
    pub fn set_password(&mut self, password: &str) {
        self.password = Some(password.to_owned());
    }

    /// The driver's configuration, with the collector's timeouts.
    pub(super) fn driver_config(&self) -> Result<tokio_postgres::Config> {
        let mut config = tokio_postgres::Config::from_str(&self.url)
            .map_err(|err| Error::Config(format!("invalid PostgreSQL URL: {err}")))?;
        if let Some(password) = &self.password {
            config.password(password.as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_options().is_none() {
            config.options(SESSION_OPTIONS);
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
        if config.get_application_name().is_none() {
            config.application_name("nodebom-collector");
        }
        Ok(config)
    }

    /// The TLS connector, unless the URL says `sslmode=disable`.
    pub(super) fn tls(&self, config: &tokio_postgres::Config) -> Result<Option<Tls>> {
        if config.get_ssl_mode() == SslMode::Disable {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_pem {
            Some(pem) => {
                let mut added = 0;
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|err| {
                        Error::Config(format!("PostgreSQL CA file is not PEM: {err}"))
                    })?;
                    roots.add(cert).map_err(|err| {
                        Error::Config(format!("PostgreSQL CA certificate rejected: {err}"))
                    })?;
                    added += 1;
                }
                if added == 0 {
                    return Err(Error::Config(
                        "the PostgreSQL CA file holds no certificate".into(),
                    ));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| Error::Config(format!("TLS to PostgreSQL: {err}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(client)))
    }
}

/// The TLS connector of PostgreSQL connections.
pub(super) type Tls = tokio_postgres_rustls::MakeRustlsConnect;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_without_its_password() {
        let settings = PostgresSettings::parse("postgres://nodebom:s3cret@db:5433/fleet").unwrap();
        assert!(settings.has_password());
        assert_eq!(settings.to_string(), "postgres://nodebom@db:5433/fleet");
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn verify_modes_are_verified_tls() {
        let settings =
            PostgresSettings::parse("postgres://nodebom@db/fleet?sslmode=verify-full").unwrap();
        let config = settings.driver_config().unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
        assert!(settings.tls(&config).unwrap().is_some());
    }

    #[test]
    fn urls_without_user_or_host_are_refused() {
        let err = PostgresSettings::parse("postgres:///fleet").unwrap_err();
        assert!(err.to_string().contains("no user"), "{err}");
        assert!(PostgresSettings::parse("postgres://db/fleet?sslmode=sometimes").is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let mut settings = PostgresSettings::parse("postgres://nodebom@db/fleet").unwrap();
        settings.ca_pem = Some(b"not a certificate".to_vec());
        let config = settings.driver_config().unwrap();
        let err = settings.tls(&config).err().unwrap();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }
}
