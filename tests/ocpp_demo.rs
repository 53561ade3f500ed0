//! `HUBGATE__OCPP__CSMS_URL=ws://... hubgate demo` pointed at a CSMS that is not up yet: the
//! demo site charges anyway (its offline policy lets unknown cards charge) and, once the CSMS
//! appears, connects and delivers every transaction message it journaled.

mod ocpp_support;

use ocpp_support::Csms;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_hubgate");

fn count(db: &Path, sql: &str) -> i64 {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    rusqlite::Connection::open_with_flags(db, flags)
        .and_then(|c| {
            c.busy_timeout(Duration::from_secs(2))?;
            c.query_row(sql, [], |r| r.get(0))
        })
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_charges_offline_and_delivers_once_the_csms_appears() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let mut demo = Command::new(BIN)
        .args(["demo", "--json", "--duration", "300", "--database"])
        .arg(&db)
        .env(
            "HUBGATE__OCPP__CSMS_URL",
            format!("ws://127.0.0.1:{port}/ocpp"),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The first car arrives, shows its card and charges while the CSMS is away.
    let end = Instant::now() + Duration::from_secs(60);
    while count(&db, "SELECT count(*) FROM transactions") < 1 {
        assert!(Instant::now() < end, "no session in the demo");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let queued = count(
        &db,
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')",
    );
    assert!(queued >= 1, "{queued}");

    let mut csms = Csms::start(&["--port", &port.to_string()]).await;
    let boot = csms
        .wait_for("the boot", Duration::from_secs(90), |e| {
            e["event"] == "recv" && e["frame"][2] == "BootNotification"
        })
        .await;
    assert_eq!(boot["frame"][3]["chargePointSerialNumber"], "demo");
    let start = csms.recv_call("StartTransaction").await;
    assert!(start["idTag"].as_str().is_some_and(|t| !t.is_empty()));
    // Delivered: the first session got the CSMS's transactionId.
    let end = Instant::now() + Duration::from_secs(60);
    while count(
        &db,
        "SELECT csms_tx_id FROM transactions ORDER BY id LIMIT 1",
    ) != 1
    {
        assert!(
            Instant::now() < end,
            "the journaled start was not delivered"
        );
        csms.drain(Duration::from_millis(200)).await;
    }
    csms.assert_no_complaints();
    demo.start_kill().unwrap();
    demo.wait().await.unwrap();
    csms.quit().await;
}
