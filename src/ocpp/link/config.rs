//! How to reach the CSMS: URL, security profile, credentials, reconnect back-off.

use crate::config::secret::{redact_url, url_has_password};
use std::path::PathBuf;
use std::time::Duration;

/// OCPP 1.6 security profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProfile {
    /// 0: no authentication (labs only).
    None,
    /// 1: HTTP basic authentication over plain `ws://`.
    BasicAuth,
    /// 2: TLS with the server's certificate verified, plus basic authentication.
    TlsBasicAuth,
    /// 3: TLS with a client certificate.
    TlsClientCert,
}

impl SecurityProfile {
    pub fn from_number(n: u8) -> Option<SecurityProfile> {
        Some(match n {
            0 => SecurityProfile::None,
            1 => SecurityProfile::BasicAuth,
            2 => SecurityProfile::TlsBasicAuth,
            3 => SecurityProfile::TlsClientCert,
            _ => return None,
        })
    }

    pub fn uses_tls(self) -> bool {
        matches!(
            self,
            SecurityProfile::TlsBasicAuth | SecurityProfile::TlsClientCert
        )
    }

    pub fn uses_basic_auth(self) -> bool {
        matches!(
            self,
            SecurityProfile::BasicAuth | SecurityProfile::TlsBasicAuth
        )
    }
}

/// The basic-auth password (OCPP's AuthorizationKey).
///
/// CSMSes disagree on what goes on the wire: `Text` (the default) sends the configured text
/// as-is; `HexKey` decodes a hex AuthorizationKey and sends the raw bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    Text(String),
    HexKey(String),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Password::Text(_) => "Password::Text(..)",
            Password::HexKey(_) => "Password::HexKey(..)",
        })
    }
}

impl Password {
    /// The password bytes for the Authorization header.
    pub fn bytes(&self) -> Result<Vec<u8>, LinkError> {
        match self {
            Password::Text(t) => Ok(t.as_bytes().to_vec()),
            Password::HexKey(h) => decode_hex(h.trim()).ok_or(LinkError::BadHexKey),
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// Exponential back-off between dials, with a random part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait before dial number `attempt` (0 = the first retry): `initial × 2^attempt`
    /// capped at `max`, scaled by `jitter` in [0.5, 1].
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let factor = 2f64.powi(attempt.min(30) as i32);
        let base = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(base * jitter.clamp(0.5, 1.0))
    }
}

/// Everything needed to dial the CSMS. Its `Debug` masks every secret.
#[derive(Clone)]
pub struct LinkConfig {
    /// `ws://` or `wss://` base URL; the identity is appended as the last path segment.
    pub csms_url: String,
    pub identity: String,
    pub profile: SecurityProfile,
    /// For profiles 1 and 2.
    pub password: Option<Password>,
    /// PEM CA bundle that signs the CSMS certificate; `None`: the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and private key (profile 3).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Limit for TCP + TLS + websocket handshake.
    pub connect_timeout: Duration,
    pub backoff: Backoff,
}

impl std::fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkConfig")
            .field("csms_url", &redact_url(&self.csms_url))
            .field("identity", &self.identity)
            .field("profile", &self.profile)
            .field("password", &self.password)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("connect_timeout", &self.connect_timeout)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl LinkConfig {
    /// The URL dialled: `csms_url/identity`.
    pub fn url(&self) -> String {
        format!("{}/{}", self.csms_url.trim_end_matches('/'), self.identity)
    }

    /// The URL dialled as logs and messages show it: a password in it masked.
    pub fn url_for_logs(&self) -> String {
        redact_url(&self.url())
    }

    /// Check that URL scheme, profile and credentials fit together.
    pub fn check(&self) -> Result<(), LinkError> {
        let tls = if self.csms_url.starts_with("wss://") {
            true
        } else if self.csms_url.starts_with("ws://") {
            false
        } else {
            return Err(LinkError::BadUrl(redact_url(&self.csms_url)));
        };
        if url_has_password(&self.csms_url) {
            return Err(LinkError::PasswordInUrl(redact_url(&self.csms_url)));
        }
        if self.profile.uses_tls() && !tls {
            return Err(LinkError::TlsRequired);
        }
        if self.profile.uses_basic_auth() && self.password.is_none() {
            return Err(LinkError::NoPassword);
        }
        if self.profile == SecurityProfile::TlsClientCert && self.client_cert.is_none() {
            return Err(LinkError::NoClientCert);
        }
        Ok(())
    }
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("`{0}` is not a ws:// or wss:// URL")]
    BadUrl(String),
    #[error("`{0}` carries a password: credentials come from the credentials file only")]
    PasswordInUrl(String),
    #[error("security profile {0} does not exist (0, 1, 2 or 3)")]
    BadProfile(u8),
    #[error("security profiles 2 and 3 need a wss:// URL")]
    TlsRequired,
    #[error("security profiles 1 and 2 need a password")]
    NoPassword,
    #[error("security profile 3 needs a client certificate and key")]
    NoClientCert,
    #[error("the AuthorizationKey is not hex")]
    BadHexKey,
    #[error("reading {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("connecting took longer than {0:?}")]
    Timeout(Duration),
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the CSMS did not agree to subprotocol ocpp1.6 (answered {0:?})")]
    Subprotocol(Option<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay(20, 1.0), Duration::from_secs(60));
        assert_eq!(b.delay(20, 0.5), Duration::from_secs(30));
        assert_eq!(b.delay(20, 0.1), Duration::from_secs(30));
    }

    #[test]
    fn hex_keys_decode() {
        assert_eq!(Password::HexKey("41 42".into()).bytes().ok(), None);
        assert_eq!(
            Password::HexKey("4142ff".into()).bytes().unwrap(),
            vec![0x41, 0x42, 0xff]
        );
        assert_eq!(
            Password::Text("4142".into()).bytes().unwrap(),
            b"4142".to_vec()
        );
        assert!(Password::HexKey("abc".into()).bytes().is_err());
    }

    #[test]
    fn profiles_need_their_parts() {
        let mut c = LinkConfig {
            csms_url: "ws://127.0.0.1:9000/ocpp/".into(),
            identity: "site-1".into(),
            profile: SecurityProfile::TlsBasicAuth,
            password: Some(Password::Text("pw".into())),
            ca_file: None,
            client_cert: None,
            connect_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
        };
        assert_eq!(c.url(), "ws://127.0.0.1:9000/ocpp/site-1");
        assert!(matches!(c.check(), Err(LinkError::TlsRequired)));
        c.profile = SecurityProfile::BasicAuth;
        assert!(c.check().is_ok());
        c.password = None;
        assert!(matches!(c.check(), Err(LinkError::NoPassword)));
        c.csms_url = "http://x".into();
        assert!(matches!(c.check(), Err(LinkError::BadUrl(_))));
        c.csms_url = "ws://site-1:hunter2@127.0.0.1:9000/ocpp".into();
        c.password = Some(Password::Text("hunter2".into()));
        let e = c.check().unwrap_err();
        assert!(matches!(e, LinkError::PasswordInUrl(_)), "{e}");
        for shown in [e.to_string(), format!("{c:?}"), c.url_for_logs()] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert_eq!(
            c.url_for_logs(),
            "ws://site-1:***@127.0.0.1:9000/ocpp/site-1"
        );
    }
}
