//! The websocket edge: redial after drops and CSMS restarts, dead links found by missing pongs,
//! the `ocpp1.6` subprotocol check, basic authentication.

mod ocpp_support;

use hubgate::ocpp::chargepoint::{Registration, SiteCommand, SiteEvent};
use hubgate::ocpp::link::{LinkState, Password, SecurityProfile};
use hubgate::ocpp::messages::CiString20;
use ocpp_support::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn boots(csms: &Csms) -> usize {
    csms.log
        .iter()
        .filter(|e| e["event"] == "recv" && e["frame"][2] == "BootNotification")
        .count()
}

fn is_connected(e: &Value) -> bool {
    e["event"] == "connected"
}

#[tokio::test]
async fn redials_after_a_drop_without_a_new_boot() {
    let mut csms = Csms::start(&[]).await;
    let mut s = session(link(csms.port, "ws"), &[]);
    all_available(&s).await;
    booted(&mut csms).await;
    csms.wait("first connection", is_connected).await;
    csms.command(json!({"cmd": "drop"})).await;
    csms.wait("disconnect", |e| e["event"] == "disconnected")
        .await;
    csms.wait("second connection", is_connected).await;
    s.until("reconnected", |st| {
        st.connects == 2 && st.state == LinkState::Connected
    })
    .await;
    // the session works again, and no BootNotification was sent on a mere reconnect
    let r = csms
        .call_ok("TriggerMessage", json!({"requestedMessage": "Heartbeat"}))
        .await;
    assert_eq!(r["status"], "Accepted");
    csms.recv_call("Heartbeat").await;
    assert_eq!(boots(&csms), 1);
    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}

#[tokio::test]
async fn a_transaction_started_while_the_csms_restarts_is_delivered_after() {
    let mut csms = Csms::start(&[]).await;
    let mut s = session(link(csms.port, "ws"), &[]);
    all_available(&s).await;
    booted(&mut csms).await;
    csms.command(json!({"cmd": "restart", "down_s": 1.5})).await;
    csms.wait("down", |e| e["event"] == "down").await;
    s.until("offline", |st| st.state != LinkState::Connected)
        .await;
    s.event(SiteEvent::TransactionStarted {
        local: 1,
        connector: 2,
        id_tag: CiString20::new("offline-1").unwrap(),
        meter_start_wh: 77.0,
        at: chrono::Utc::now(),
        reservation_id: None,
    })
    .await;
    s.until("queued", |st| st.outbox_depth == 1).await;
    csms.wait("up", |e| e["event"] == "up").await;
    let st = csms.recv_call("StartTransaction").await;
    assert_eq!(
        (st["connectorId"].clone(), st["meterStart"].clone()),
        (json!(2), json!(77))
    );
    s.command("confirmation", |c| {
        matches!(c, SiteCommand::TransactionConfirmed { .. })
    })
    .await;
    s.until("delivered", |st| {
        st.outbox_depth == 0 && st.registration == Registration::Accepted
    })
    .await;
    assert_eq!(boots(&csms), 1);
    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}

/// A TCP relay that can freeze its current connections (data stops flowing both ways, the
/// sockets stay open), as a peer that vanished without closing.
async fn relay(target: u16) -> (u16, watch::Sender<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (freeze, frozen) = watch::channel(0u64);
    tokio::spawn(async move {
        let mut generation = 0u64;
        while let Ok((client, _)) = listener.accept().await {
            generation += 1;
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pipe(cr, sw, frozen.clone(), generation));
            tokio::spawn(pipe(sr, cw, frozen.clone(), generation));
        }
    });
    (port, freeze)
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: watch::Receiver<u64>,
    generation: u64,
) {
    let mut buf = vec![0u8; 16384];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if *frozen.borrow() >= generation {
            // swallow everything from now on, keep the sockets open
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_silent_link_is_found_dead_by_missing_pongs_and_redialled() {
    let mut csms = Csms::start(&[]).await;
    let (port, freeze) = relay(csms.port).await;
    let mut s = session(link(port, "ws"), &[("WebSocketPingInterval", "1")]);
    all_available(&s).await;
    booted(&mut csms).await;
    csms.wait("first connection", is_connected).await;
    freeze.send_replace(1);
    // no pong comes back: the session gives the link up and dials again
    s.until("link lost", |st| st.state != LinkState::Connected)
        .await;
    csms.wait("second connection", is_connected).await;
    s.until("reconnected", |st| {
        st.connects == 2 && st.state == LinkState::Connected
    })
    .await;
    let r = csms
        .call_ok(
            "GetConfiguration",
            json!({"key": ["WebSocketPingInterval"]}),
        )
        .await;
    assert_eq!(r["configurationKey"][0]["value"], "1");
    assert_eq!(boots(&csms), 1);
    s.stop().await;
    csms.quit().await;
}

#[tokio::test]
async fn a_csms_that_does_not_agree_to_ocpp16_is_refused() {
    let mut csms = Csms::start(&["--no-subprotocol"]).await;
    let mut s = session(link(csms.port, "ws"), &[]);
    csms.wait("an attempt", is_connected).await;
    csms.wait("another attempt", is_connected).await;
    s.until("offline", |st| st.state == LinkState::Offline)
        .await;
    assert_eq!(s.handle.status.borrow().connects, 0);
    assert_eq!(boots(&csms), 0);
    s.stop().await;
    csms.quit().await;
}

#[tokio::test]
async fn basic_auth_profile_1() {
    let mut csms = Csms::start(&["--password", "s3cret"]).await;
    let mut wrong = link(csms.port, "ws");
    wrong.profile = SecurityProfile::BasicAuth;
    wrong.password = Some(Password::Text("guess".into()));
    let mut s = session(wrong, &[]);
    csms.wait("a refused attempt", |e| e["event"] == "rejected_auth")
        .await;
    s.until("offline", |st| st.state == LinkState::Offline)
        .await;
    assert_eq!(s.handle.status.borrow().connects, 0);
    s.stop().await;

    let mut right = link(csms.port, "ws");
    right.profile = SecurityProfile::BasicAuth;
    // the AuthorizationKey as hex, sent as its bytes: "s3cret"
    right.password = Some(Password::HexKey("733363726574".into()));
    let s = session(right, &[]);
    all_available(&s).await;
    booted(&mut csms).await;
    let c = csms.wait("connection", is_connected).await;
    assert_eq!(c["path"], "/ocpp/hub-1");
    assert_eq!(c["subprotocol"], "ocpp1.6");
    csms.assert_no_complaints();
    s.stop().await;
    csms.quit().await;
}
