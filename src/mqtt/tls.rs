//! TLS to the broker through hubgate's own rustls (ring) connector.
//!
//! The MQTT client library's bundled TLS stack pulls an old certificate verifier with open
//! advisories, so the client is built without it and speaks plain MQTT to a private Unix socket;
//! this bridge accepts there and forwards each connection over a fresh TLS connection to the
//! broker, verifying the broker's certificate against the configured CA bundle (or the web PKI
//! roots) and presenting the client certificate from the credentials file, if any.

use super::{MqttError, MqttSettings, TlsSettings};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::{TcpStream, UnixListener};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tracing::{debug, warn};

/// The running bridge; dropping it stops it and removes its socket.
pub struct Bridge {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl Bridge {
    /// Binds the socket and starts forwarding.
    pub async fn start(settings: &MqttSettings, tls: &TlsSettings) -> Result<Bridge, MqttError> {
        let config = client_config(settings, tls)?;
        let connector = TlsConnector::from(Arc::new(config));
        let server_name = ServerName::try_from(settings.host.clone())
            .map_err(|e| MqttError::Tls(format!("broker name {}: {e}", settings.host)))?;
        let path = settings
            .runtime_dir
            .join(format!("mqtt-tls-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|source| MqttError::Read {
            path: path.clone(),
            source,
        })?;
        restrict(&path);
        let target = format!("{}:{}", settings.host, settings.port);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut local, _)) = listener.accept().await else {
                    return;
                };
                let connector = connector.clone();
                let server_name = server_name.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let tcp = match TcpStream::connect(&target).await {
                        Ok(t) => t,
                        Err(e) => {
                            debug!(broker = %target, error = %e, "broker unreachable");
                            return;
                        }
                    };
                    let mut tls = match connector.connect(server_name, tcp).await {
                        Ok(t) => t,
                        Err(e) => {
                            warn!(broker = %target, error = %e, "TLS handshake with the broker failed");
                            return;
                        }
                    };
                    let _ = tokio::io::copy_bidirectional(&mut local, &mut tls).await;
                });
            }
        });
        Ok(Bridge { path, task })
    }

    /// The socket path, as the MQTT client takes it.
    pub fn path_string(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

fn client_config(
    settings: &MqttSettings,
    tls: &TlsSettings,
) -> Result<rustls::ClientConfig, MqttError> {
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(ca) => {
            let certs = CertificateDer::pem_file_iter(ca)
                .map_err(|e| MqttError::Tls(format!("{}: {e}", ca.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| MqttError::Tls(format!("{}: {e}", ca.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| MqttError::Tls(format!("{}: {e}", ca.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let client_cert = settings
        .credentials
        .as_ref()
        .and_then(|c| Some((c.client_cert.clone()?, c.client_key.clone()?)));
    match client_cert {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(&cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| MqttError::Tls(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(&key)
                .map_err(|e| MqttError::Tls(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| MqttError::Tls(e.to_string()))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}
