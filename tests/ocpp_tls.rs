//! Security profiles 2 (TLS + basic auth) and 3 (TLS client certificate) against the CSMS,
//! with a CA and certificates made at test time; a CSMS certificate from another CA is refused.

mod ocpp_support;

use hubgate::ocpp::link::{LinkState, Password, SecurityProfile};
use ocpp_support::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca { params, key, pem }
}

/// A certificate for `names` signed by `ca`: (cert PEM, key PEM).
fn leaf(ca: &Ca, names: &[&str]) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    let key = KeyPair::generate().unwrap();
    let issuer = Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("hubgate test CA");
    let other = ca("some other CA");
    let (server_cert, server_key) = leaf(&root, &["localhost", "127.0.0.1"]);
    let (client_cert, client_key) = leaf(&root, &["hub-1"]);
    let d = dir.path();
    Pki {
        ca: write(d, "ca.pem", &root.pem),
        other_ca: write(d, "other-ca.pem", &other.pem),
        server_cert: write(d, "server.pem", &server_cert),
        server_key: write(d, "server.key", &server_key),
        client_cert: write(d, "client.pem", &client_cert),
        client_key: write(d, "client.key", &client_key),
        _dir: dir,
    }
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn profile_2_tls_with_basic_auth() {
    let pki = pki();
    let mut csms = Csms::start(&[
        "--tls-cert",
        arg(&pki.server_cert),
        "--tls-key",
        arg(&pki.server_key),
        "--password",
        "tls-pw",
    ])
    .await;
    let mut cfg = link(csms.port, "wss");
    cfg.profile = SecurityProfile::TlsBasicAuth;
    cfg.password = Some(Password::Text("tls-pw".into()));
    cfg.ca_file = Some(pki.ca.clone());
    let s = session(cfg, &[]);
    all_available(&s).await;
    booted(&mut csms).await;
    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused() {
    let pki = pki();
    let csms = Csms::start(&[
        "--tls-cert",
        arg(&pki.server_cert),
        "--tls-key",
        arg(&pki.server_key),
        "--password",
        "tls-pw",
    ])
    .await;
    let mut cfg = link(csms.port, "wss");
    cfg.profile = SecurityProfile::TlsBasicAuth;
    cfg.password = Some(Password::Text("tls-pw".into()));
    cfg.ca_file = Some(pki.other_ca.clone());
    let mut s = session(cfg, &[]);
    s.until("a failed dial", |st| st.state == LinkState::Offline)
        .await;
    s.until("another failed dial", |st| {
        st.state == LinkState::Connecting
    })
    .await;
    s.until("offline again", |st| st.state == LinkState::Offline)
        .await;
    assert_eq!(s.handle.status.borrow().connects, 0);
    s.stop().await;
    let log = csms.finish().await;
    assert!(log.iter().any(|e| e["event"] == "listening"));
    assert!(!log.iter().any(|e| e["event"] == "connected"), "{log:#?}");
}

#[tokio::test]
async fn profile_3_client_certificate() {
    let pki = pki();
    let mut csms = Csms::start(&[
        "--tls-cert",
        arg(&pki.server_cert),
        "--tls-key",
        arg(&pki.server_key),
        "--client-ca",
        arg(&pki.ca),
    ])
    .await;
    let mut cfg = link(csms.port, "wss");
    cfg.profile = SecurityProfile::TlsClientCert;
    cfg.ca_file = Some(pki.ca.clone());
    cfg.client_cert = Some((pki.client_cert.clone(), pki.client_key.clone()));
    let s = session(cfg, &[]);
    all_available(&s).await;
    booted(&mut csms).await;
    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}
