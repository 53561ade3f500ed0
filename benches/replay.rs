//! Replay rate of the transaction outbox: 10,000 queued transaction messages (1,000 offline
//! sessions of a StartTransaction, 8 MeterValues and a StopTransaction) delivered to the CSMS of
//! the interop tests (tests/csms/csms.py, the Python `ocpp` package) on loopback, by the real
//! charge point over a real SQLite journal, each acknowledgement committed before the next
//! message goes. Compared with the one-outstanding-call limit: 1 / the round-trip time of one
//! MeterValues CALL to the same CSMS.
//!
//! `cargo bench --bench replay` (a scripted run; needs python3 with tests/csms/requirements.txt).

use futures_util::{SinkExt, StreamExt};
use hubgate::config::SiteConfig;
use hubgate::ocpp::chargepoint::Registration;
use hubgate::ocpp::link::{LinkConfig, dial};
use hubgate::ocpp::messages::{
    CiString20, Measurand, MeterValue, MeterValues, ReadingContext, Reason, SampledValue,
    StartTransaction, StopTransaction, Timestamp, UnitOfMeasure,
};
use hubgate::store::journal::{self, NewTransaction, Sample, StopRecord};
use hubgate::uplink::{Db, LinkThread, charge_point};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const SESSIONS: usize = 1_000;
const SAMPLES: usize = 8;
const RTT_CALLS: usize = 500;

const SITE: &str = r#"
[site]
id = "bench"
name = "Replay bench"
grid_limit_a = 63
[[buses]]
name = "lan"
kind = "tcp"
host = "127.0.0.1"
port = 1
[[chargers]]
name = "c1"
driver = "abb-terra-ac"
bus = "lan"
unit = 1
max_current_a = 32
connector = 1
[ocpp]
csms_url = "ws://127.0.0.1:{port}/ocpp"
security_profile = 0
"#;

fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

fn meter(at: chrono::DateTime<chrono::Utc>, wh: i64) -> MeterValues {
    MeterValues {
        connector_id: 1,
        transaction_id: None,
        meter_value: vec![MeterValue {
            timestamp: Timestamp(at),
            sampled_value: vec![SampledValue {
                value: wh.to_string(),
                context: Some(ReadingContext::SamplePeriodic),
                format: None,
                measurand: Some(Measurand::EnergyActiveImportRegister),
                phase: None,
                location: None,
                unit: Some(UnitOfMeasure::Wh),
            }],
        }],
    }
}

/// Journal `SESSIONS` whole sessions, as if they had happened offline.
fn fill(c: &rusqlite::Connection) -> Result<(), hubgate::store::StoreError> {
    let t0 = chrono::Utc::now() - chrono::TimeDelta::days(1);
    let tag = CiString20::new("OFFLINE").expect("tag");
    for s in 0..SESSIONS {
        let start = t0 + chrono::TimeDelta::seconds(60 * s as i64);
        let wh0 = 10_000 * s as i64;
        let req = StartTransaction {
            connector_id: 1,
            id_tag: tag.clone(),
            meter_start: wh0 as i32,
            reservation_id: None,
            timestamp: Timestamp(start),
        };
        let rec = journal::record_start(
            c,
            &NewTransaction {
                connector: 1,
                id_tag: tag.to_string(),
                started_at: start.timestamp_millis(),
                meter_start_wh: wh0,
                payload: serde_json::to_value(&req)?,
            },
        )?;
        for k in 1..=SAMPLES {
            let at = start + chrono::TimeDelta::seconds(5 * k as i64);
            let wh = wh0 + 100 * k as i64;
            journal::record_sample(
                c,
                &Sample {
                    tx: rec.tx,
                    at: at.timestamp_millis(),
                    meter_wh: Some(wh),
                    payload: Some(serde_json::to_value(meter(at, wh))?),
                },
            )?;
        }
        let end = start + chrono::TimeDelta::seconds(50);
        let stop = StopTransaction {
            id_tag: None,
            meter_stop: (wh0 + 1000) as i32,
            timestamp: Timestamp(end),
            transaction_id: 0,
            reason: Some(Reason::EVDisconnected),
            transaction_data: None,
        };
        journal::record_stop(
            c,
            &StopRecord {
                tx: rec.tx,
                stopped_at: end.timestamp_millis(),
                meter_stop_wh: wh0 + 1000,
                reason: Some("EVDisconnected".into()),
                cost: None,
                payload: serde_json::to_value(&stop)?,
            },
        )?;
    }
    Ok(())
}

/// The mean round trip of one MeterValues CALL to the CSMS, one at a time.
async fn round_trip(link: &LinkConfig) -> Duration {
    let mut cfg = link.clone();
    cfg.identity = "rtt-probe".into();
    let mut ws = dial(&cfg).await.expect("dial the CSMS");
    let boot =
        r#"[2,"b","BootNotification",{"chargePointVendor":"bench","chargePointModel":"rtt"}]"#;
    ws.send(Message::Text(boot.into())).await.expect("send");
    ws.next().await.expect("boot answer").expect("frame");
    let payload = serde_json::to_value(meter(chrono::Utc::now(), 1234)).expect("json");
    let mut total = Duration::ZERO;
    for i in 0..RTT_CALLS {
        let mut p = payload.clone();
        p["transactionId"] = 1.into();
        let frame = serde_json::json!([2, format!("m{i}"), "MeterValues", p]).to_string();
        let t = Instant::now();
        ws.send(Message::Text(frame.into())).await.expect("send");
        loop {
            match ws.next().await.expect("answer").expect("frame") {
                Message::Text(_) => break,
                _ => continue,
            }
        }
        total += t.elapsed();
    }
    let _ = ws.close(None).await;
    total / RTT_CALLS as u32
}

async fn run() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/csms/csms.py");
    let mut csms = tokio::process::Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 with tests/csms/requirements.txt");
    let mut lines = BufReader::new(csms.stdout.take().expect("stdout")).lines();
    let port = loop {
        let line = lines.next_line().await.expect("csms").expect("csms output");
        let e: serde_json::Value = serde_json::from_str(&line).expect("json");
        if e["event"] == "listening" {
            break e["port"].as_u64().expect("port");
        }
    };
    // Keep reading what the CSMS reports, counting the calls it received.
    let received = tokio::spawn(async move {
        let mut calls = 0usize;
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("\"recv\"") {
                calls += 1;
            }
        }
        calls
    });

    let cfg: SiteConfig = toml::from_str(&SITE.replace("{port}", &port.to_string())).expect("site");
    let link = hubgate::ocpp::site::link_config(&cfg)
        .expect("link")
        .expect("[ocpp]");
    let rtt = round_trip(&link).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("replay.db");
    let writer = hubgate::daemon::open_store(&path).expect("store");
    writer.call(fill).await.expect("fill");
    let db = Db::open(&path, writer.clone()).expect("db");
    let queued = SESSIONS * (SAMPLES + 2);

    let cp = charge_point(
        &cfg,
        db,
        Default::default(),
        &[],
        hubgate::clock::Moment::now(),
    );
    let mut thread = LinkThread::start(link, cp).expect("link");
    // The sessions would take the charge point's commands (TransactionConfirmed, ...).
    let (_, idle) = tokio::sync::mpsc::channel(1);
    let mut commands = std::mem::replace(&mut thread.handle.commands, idle);
    let drain = tokio::spawn(async move { while commands.recv().await.is_some() {} });
    let status = &mut thread.handle.status;
    status
        .wait_for(|s| s.registration == Registration::Accepted)
        .await
        .expect("boot");
    let t = Instant::now();
    status
        .wait_for(|s| s.outbox_depth == 0)
        .await
        .expect("replay");
    let took = t.elapsed();
    thread.stop().await;
    drain.abort();
    let _ = writer.shutdown().await;
    drop(csms.stdin.take());
    let _ = csms.wait().await;
    let calls = received.await.unwrap_or(0);

    let rate = queued as f64 / took.as_secs_f64();
    let limit = 1.0 / rtt.as_secs_f64();
    println!("replay: {queued} transaction messages in {took:.2?} = {rate:.0} messages/s");
    println!(
        "round trip of one MeterValues CALL: {:.3} ms, so at most {limit:.0} messages/s",
        rtt.as_secs_f64() * 1000.0
    );
    println!(
        "replay rate / limit = {:.2} ({calls} calls reached the CSMS)",
        rate / limit
    );
}
