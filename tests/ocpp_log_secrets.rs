//! No secret reaches the logs: the basic-auth password and its Authorization header stay out of
//! every level up to trace, in failed dials and in refused URLs. The logs are captured through
//! the daemon's own filter (`service::log_filter`), with the `log` crate's records (tungstenite)
//! bridged in as the daemon has them.

mod ocpp_support;

use hubgate::ocpp::link::{LinkState, Password, SecurityProfile};
use hubgate::service::log_filter;
use ocpp_support::*;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const PASSWORD: &str = "redact-me-7f3a";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::ErrorKind::Other)?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("capture lock")).into_owned()
    }
}

fn capture_at_trace() -> Capture {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::registry()
        .with(log_filter("trace").expect("a valid filter"))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .try_init()
        .expect("the only subscriber of this test binary");
    capture
}

#[tokio::test]
async fn passwords_and_authorization_headers_never_reach_the_logs() {
    let capture = capture_at_trace();
    let token = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("hub-1:{PASSWORD}"))
    };
    let mut csms = Csms::start(&["--password", PASSWORD]).await;

    // A wrong password: refused by the CSMS, the failed dial is logged.
    let mut wrong = link(csms.port, "ws");
    wrong.profile = SecurityProfile::BasicAuth;
    wrong.password = Some(Password::Text(format!("{PASSWORD}-wrong")));
    let mut s = session(wrong, &[]);
    csms.wait("a refused attempt", |e| e["event"] == "rejected_auth")
        .await;
    s.until("offline", |st| st.state == LinkState::Offline)
        .await;
    s.stop().await;

    // A password in the URL: refused before any dial, the URL logged masked.
    let mut in_url = link(csms.port, "ws");
    in_url.csms_url = format!("ws://hub-1:{PASSWORD}@127.0.0.1:{}/ocpp", csms.port);
    let mut s = session(in_url, &[]);
    s.until("offline", |st| st.state == LinkState::Offline)
        .await;
    assert_eq!(s.handle.status.borrow().connects, 0);
    s.stop().await;

    // The right password: connected and booted.
    let mut right = link(csms.port, "ws");
    right.profile = SecurityProfile::BasicAuth;
    right.password = Some(Password::Text(PASSWORD.into()));
    let mut s = session(right, &[]);
    all_available(&s).await;
    booted(&mut csms).await;
    s.until("connected", |st| st.state == LinkState::Connected)
        .await;
    s.stop().await;
    csms.quit().await;

    let logs = capture.text();
    // The capture works at trace level, the handshake's own debug lines included ...
    assert!(logs.contains("TRACE"), "no trace lines captured");
    assert!(
        logs.contains("Client handshake done"),
        "no handshake lines captured"
    );
    assert!(
        logs.contains("cannot connect"),
        "the failed dials are logged"
    );
    assert!(
        logs.contains("carries a password"),
        "the refused URL is logged"
    );
    assert!(
        logs.contains("hub-1:***@127.0.0.1"),
        "the URL is shown masked"
    );
    // ... and no secret is in it.
    for secret in [
        PASSWORD,
        token.as_str(),
        "Authorization: Basic",
        "authorization: Basic",
    ] {
        assert!(!logs.contains(secret), "`{secret}` logged");
    }
}

#[test]
fn the_handshake_trace_stays_out_even_when_asked_for_by_name() {
    for level in [
        "trace",
        "tungstenite=trace",
        "tungstenite::handshake::client=trace",
    ] {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::registry()
            .with(log_filter(level).expect("a valid filter"))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "tungstenite::handshake::client", "Request: secret-request");
            tracing::debug!(target: "tungstenite::handshake::client", "Client handshake done.");
            tracing::trace!(target: "tungstenite::protocol", "other trace");
        });
        let logs = capture.text();
        assert!(!logs.contains("secret-request"), "{level}: {logs}");
        assert!(logs.contains("Client handshake done."), "{level}: {logs}");
        assert!(
            level.ends_with("client=trace") || logs.contains("other trace"),
            "{level}: {logs}"
        );
    }
}
