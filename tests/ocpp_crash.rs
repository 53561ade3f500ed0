//! Crash consistency: `hubgate run` is killed with SIGKILL at random moments, at least 50 times,
//! while cars come and go on the simulated chargers and the CSMS goes down and up. Afterwards the
//! CSMS's record equals the chargers' truth: every session is there once (none lost, none
//! twice), each with one stop, its meter values never decreasing and its energy what the charger
//! delivered.
//!
//! Delivery is at least once: a message the CSMS processed just before the kill, whose
//! acknowledgement was not committed yet, is sent again after the restart with the same content.
//! The CSMS recognises such a StartTransaction by its content (as CSMSes do), so a transaction is
//! never counted twice; the test reports how many messages came again.

mod ocpp_support;
mod support;

use ocpp_support::Csms;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::site::{SMALL_SITE, simulate};
use tokio::process::{Child, Command};
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_hubgate");
const KILLS: usize = 50;
const CHARGERS: [(&str, u32); 3] = [("c1", 1), ("c2", 2), ("c3", 3)];

fn spawn_daemon(config: &Path, dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("daemon.log"))
        .unwrap();
    Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .env("RUNTIME_DIRECTORY", dir.join("run"))
        .env("RUST_LOG", "warn,hubgate::session=info")
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Active transactions on `connector` in the journal (read next to the daemon).
fn active(db: &Path, connector: u32) -> i64 {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(c) = rusqlite::Connection::open_with_flags(db, flags) else {
        return 0;
    };
    let _ = c.busy_timeout(Duration::from_secs(2));
    c.query_row(
        "SELECT count(*) FROM transactions WHERE connector = ?1 AND state = 'active'",
        [connector],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

fn undelivered(db: &Path) -> i64 {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(c) = rusqlite::Connection::open_with_flags(db, flags) else {
        return -1;
    };
    let _ = c.busy_timeout(Duration::from_secs(2));
    c.query_row(
        "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')",
        [],
        |r| r.get(0),
    )
    .unwrap_or(-1)
}

enum Car {
    /// No car; the next arrives at this instant.
    Away(Instant),
    /// Plugged in; waiting for the site to start its transaction.
    Arrived,
    /// Charging until this instant.
    Charging(Instant),
    /// Left; waiting for the site to close its transaction.
    Left,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_fifty_times_the_csms_record_equals_the_chargers_truth() {
    let mut csms = Csms::start(&[]).await;
    let ocpp = format!(
        "[ocpp]\ncsms_url = \"ws://127.0.0.1:{}/ocpp\"\nsecurity_profile = 0\n\
         [auth]\nfree_vend_id_tag = \"FREEVEND\"\n",
        csms.port
    );
    let sim = simulate(&format!("{SMALL_SITE}{ocpp}"), [5.0, 5.0, 5.0]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let db = dir.path().join("hub.db");
    let writer = hubgate::daemon::open_store(&db).unwrap();
    for (k, v) in [
        ("MeterValueSampleInterval", "1"),
        ("TransactionMessageRetryInterval", "1"),
    ] {
        writer.set_setting(k, v, 0).await.unwrap();
    }
    writer.shutdown().await.unwrap();
    let mut config = sim.config.clone();
    config.storage.database = Some(db.clone());
    let config_path = dir.path().join("site.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();

    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut daemon = spawn_daemon(&config_path, dir.path());
    let mut kills = 0;
    let mut next_kill = Instant::now() + Duration::from_millis(rng.random_range(800..2500));
    let mut next_outage = Instant::now() + Duration::from_secs(4);
    let mut cars: Vec<Car> = CHARGERS.iter().map(|_| Car::Away(Instant::now())).collect();
    // (connector, energy the charger delivered) of every session, in order per connector.
    let mut truth: Vec<(u32, f64)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(600);
    while kills < KILLS || !cars.iter().all(|c| matches!(c, Car::Away(_))) {
        assert!(Instant::now() < end, "the scenario did not finish");
        csms.drain(Duration::from_millis(100)).await;
        let now = Instant::now();
        if kills < KILLS && now >= next_kill {
            daemon.start_kill().unwrap();
            daemon.wait().await.unwrap();
            kills += 1;
            if rng.random_bool(0.3) {
                tokio::time::sleep(Duration::from_millis(rng.random_range(100..800))).await;
            }
            daemon = spawn_daemon(&config_path, dir.path());
            next_kill = Instant::now() + Duration::from_millis(rng.random_range(400..2500));
        }
        if now >= next_outage {
            let down = rng.random_range(1.0..4.0);
            csms.command(json!({"cmd": "restart", "down_s": down}))
                .await;
            next_outage = now + Duration::from_secs_f64(down + rng.random_range(3.0..8.0));
        }
        for (car, (name, connector)) in cars.iter_mut().zip(CHARGERS) {
            *car = match *car {
                Car::Away(at) if kills < KILLS && now >= at => {
                    sim.plug_in(name, 16.0);
                    Car::Arrived
                }
                Car::Arrived if active(&db, connector) > 0 => {
                    Car::Charging(now + Duration::from_millis(rng.random_range(1000..5000)))
                }
                Car::Charging(until) if now >= until => {
                    let mut w = hubgate::sim::serve::lock(&sim.world);
                    let i = w.charger_index(name).unwrap();
                    let delivered = w.site.chargers[i].session_energy_wh;
                    w.site.chargers[i].unplug();
                    truth.push((connector, delivered));
                    Car::Left
                }
                Car::Left if active(&db, connector) == 0 => {
                    Car::Away(now + Duration::from_millis(rng.random_range(200..2000)))
                }
                Car::Away(at) => Car::Away(at),
                Car::Arrived => Car::Arrived,
                Car::Charging(until) => Car::Charging(until),
                Car::Left => Car::Left,
            };
        }
    }
    // The CSMS is up again by itself; everything gets delivered.
    let drained = Instant::now() + Duration::from_secs(120);
    while undelivered(&db) != 0 {
        assert!(Instant::now() < drained, "the outbox never emptied");
        csms.drain(Duration::from_millis(200)).await;
    }
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    csms.assert_no_complaints();
    let log = csms.finish().await;
    check(&log, &truth, kills);
}

/// The CSMS's record against the truth.
fn check(log: &[Value], truth: &[(u32, f64)], kills: usize) {
    let frames: Vec<(&str, &Value)> = log
        .iter()
        .filter(|e| e["event"] == "recv" && e["frame"][0] == 2)
        .filter_map(|e| Some((e["frame"][2].as_str()?, &e["frame"][3])))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut again = 0;
    // transactionIds go to distinct starts in the order they first arrive, from 1.
    let mut starts: Vec<&Value> = Vec::new();
    let mut stops: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    let mut values: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (action, p) in &frames {
        if !["StartTransaction", "MeterValues", "StopTransaction"].contains(action) {
            continue;
        }
        if !seen.insert(format!("{action}{p}")) {
            again += 1;
            continue;
        }
        match *action {
            "StartTransaction" => starts.push(p),
            "StopTransaction" => stops
                .entry(p["transactionId"].as_i64().unwrap())
                .or_default()
                .push(p),
            _ => {
                let id = p["transactionId"].as_i64().unwrap();
                let wh = p["meterValue"][0]["sampledValue"][0]["value"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap();
                values.entry(id).or_default().push(wh);
            }
        }
    }
    println!(
        "{kills} kills, {} sessions, {} transaction messages, {again} sent again",
        truth.len(),
        seen.len()
    );
    assert!(kills >= KILLS);
    assert_eq!(starts.len(), truth.len(), "sessions lost or counted twice");
    for (_, connector) in CHARGERS {
        let mine: Vec<f64> = truth
            .iter()
            .filter(|(c, _)| *c == connector)
            .map(|(_, e)| *e)
            .collect();
        let theirs: Vec<(i64, &Value)> = starts
            .iter()
            .enumerate()
            .filter(|(_, s)| s["connectorId"] == connector)
            .map(|(i, s)| (i as i64 + 1, *s))
            .collect();
        assert_eq!(mine.len(), theirs.len(), "connector {connector}");
        let mut previous_stop = 0.0;
        for (energy, (id, start)) in mine.iter().zip(&theirs) {
            let stop = stops.get(id).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(
                stop.len(),
                1,
                "transaction {id} stopped {} times",
                stop.len()
            );
            let (m0, m1) = (
                start["meterStart"].as_f64().unwrap(),
                stop[0]["meterStop"].as_f64().unwrap(),
            );
            assert!(
                m0 >= previous_stop,
                "connector {connector}'s register went back"
            );
            previous_stop = m1;
            let mut last = m0;
            for v in values.get(id).map(Vec::as_slice).unwrap_or_default() {
                assert!(*v >= last, "transaction {id}: {v} after {last}");
                last = *v;
            }
            assert!(m1 >= last, "transaction {id} stops below its meter values");
            let delivered = m1 - m0;
            assert!(
                (delivered - energy).abs() <= 15.0 + 0.02 * energy,
                "transaction {id}: {delivered} Wh to the CSMS, {energy} Wh by the charger"
            );
        }
    }
    assert_eq!(stops.len(), starts.len(), "stops of unknown transactions");
}
