//! Helpers shared by the store tests.

use hubgate::store::journal::{self, NewTransaction, Recorded, Sample, StopRecord};
use hubgate::store::outbox::Seq;
use hubgate::store::{Millis, Store};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::path::PathBuf;
use tempfile::TempDir;

/// A temporary directory and a database path inside it (not yet created).
pub fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hubgate.db");
    (dir, path)
}

/// A new store in a temporary directory.
pub fn new_store() -> (TempDir, Store) {
    let (dir, path) = temp_db();
    let store = Store::open(&path).expect("open new store");
    (dir, store)
}

/// An OCPP-like StartTransaction body.
pub fn start_payload(connector: u32, id_tag: &str, meter_wh: i64, at: Millis) -> Value {
    json!({"connectorId": connector, "idTag": id_tag, "meterStart": meter_wh, "timestamp": at})
}

/// Start a transaction on `connector` at `at` with meter `meter_wh`.
pub fn start(
    conn: &Connection,
    connector: u32,
    id_tag: &str,
    meter_wh: i64,
    at: Millis,
) -> Recorded {
    journal::record_start(
        conn,
        &NewTransaction {
            connector,
            id_tag: id_tag.into(),
            started_at: at,
            meter_start_wh: meter_wh,
            payload: start_payload(connector, id_tag, meter_wh, at),
        },
    )
    .expect("record start")
}

/// Record a sample with a MeterValues body.
pub fn sample(conn: &Connection, tx: i64, meter_wh: i64, at: Millis) -> Seq {
    journal::record_sample(
        conn,
        &Sample {
            tx,
            at,
            meter_wh: Some(meter_wh),
            payload: Some(json!({"connectorId": 1, "meterValue": [
                {"timestamp": at, "sampledValue": [{"value": meter_wh.to_string()}]}
            ]})),
        },
    )
    .expect("record sample")
    .expect("a sample with a payload is queued")
}

/// Stop a transaction.
pub fn stop(conn: &Connection, tx: i64, meter_wh: i64, at: Millis) -> Seq {
    journal::record_stop(
        conn,
        &StopRecord {
            tx,
            stopped_at: at,
            meter_stop_wh: meter_wh,
            reason: Some("Local".into()),
            cost: Some(1.5),
            payload: json!({"meterStop": meter_wh, "timestamp": at, "reason": "Local"}),
        },
    )
    .expect("record stop")
}

/// The file's bytes.
pub fn bytes(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).expect("read file")
}
