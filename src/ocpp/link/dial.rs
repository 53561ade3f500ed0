//! Dialling the CSMS: TLS (rustls with ring), basic auth, subprotocol `ocpp1.6`.

use super::config::{LinkConfig, LinkError, SecurityProfile};
use base64::Engine;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// The only subprotocol we speak.
pub const SUBPROTOCOL: &str = "ocpp1.6";

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn file_error(path: &Path, e: impl std::fmt::Display) -> LinkError {
    LinkError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The rustls client configuration for `cfg` (ring provider; server verified against the CA
/// file or the built-in web roots; client certificate for profile 3).
pub fn tls_config(cfg: &LinkConfig) -> Result<rustls::ClientConfig, LinkError> {
    let mut roots = RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| file_error(path, e))?;
            for cert in certs {
                let cert = cert.map_err(|e| file_error(path, e))?;
                roots.add(cert).map_err(|e| file_error(path, e))?;
            }
            if roots.is_empty() {
                return Err(file_error(path, "no certificate in the file"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LinkError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match (&cfg.client_cert, cfg.profile) {
        (Some((cert, key)), SecurityProfile::TlsClientCert) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| file_error(cert, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| file_error(cert, e))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| LinkError::Tls(e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// Open the websocket to `csms_url/identity` and check the CSMS agreed to `ocpp1.6`.
pub async fn dial(cfg: &LinkConfig) -> Result<Ws, LinkError> {
    cfg.check()?;
    let mut request = cfg.url().into_client_request()?;
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    if cfg.profile.uses_basic_auth() {
        let password = cfg
            .password
            .as_ref()
            .ok_or(LinkError::NoPassword)?
            .bytes()?;
        let mut user_pass = cfg.identity.as_bytes().to_vec();
        user_pass.push(b':');
        user_pass.extend(password);
        let token = base64::engine::general_purpose::STANDARD.encode(user_pass);
        let mut value = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|e| LinkError::Tls(e.to_string()))?;
        // Debug output of the request (errors, traces) shows "Sensitive" instead of the token;
        // the handshake's raw trace is filtered out by the logging setup
        // (`service::REDACTED_TARGETS`).
        value.set_sensitive(true);
        headers.insert("Authorization", value);
    }
    let connector = if cfg.csms_url.starts_with("wss://") {
        Some(Connector::Rustls(Arc::new(tls_config(cfg)?)))
    } else {
        Some(Connector::Plain)
    };
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector);
    let (ws, response) = tokio::time::timeout(cfg.connect_timeout, connecting)
        .await
        .map_err(|_| LinkError::Timeout(cfg.connect_timeout))??;
    let agreed = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if agreed.as_deref() != Some(SUBPROTOCOL) {
        let mut ws = ws;
        let _ = ws.close(None).await;
        return Err(LinkError::Subprotocol(agreed));
    }
    Ok(ws)
}
