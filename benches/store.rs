//! Journal writes per second through the store's writer, with and without batching.
//!
//! Each iteration records 128 meter samples (a journal update plus a MeterValues message in the
//! outbox each), from 16 concurrent callers (one per connector) or from one caller in sequence.
//! Every write is durable (`synchronous = FULL`, an fsync per commit) when its call returns.
//! After each variant the writer's counters give the mean number of writes per commit.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hubgate::store::journal::{self, NewTransaction, Sample};
use hubgate::store::{Store, StoreWriter, WriterHandle, WriterOptions};
use serde_json::json;
use std::time::Duration;

const CALLERS: u32 = 16;
const PER_CALLER: i64 = 8;
const WRITES: u64 = CALLERS as u64 * PER_CALLER as u64;

fn payload(connector: u32, meter: i64) -> serde_json::Value {
    json!({"connectorId": connector, "meterValue": [{"timestamp": "2025-01-01T00:00:00Z",
        "sampledValue": [{"value": meter.to_string(), "measurand": "Energy.Active.Import.Register",
        "unit": "Wh"}]}]})
}

fn sample(tx: i64, connector: u32, meter: i64) -> Sample {
    Sample {
        tx,
        at: meter,
        meter_wh: Some(meter),
        payload: Some(payload(connector, meter)),
    }
}

/// A fresh database with one active transaction per caller; returns their ids.
fn setup(store: &Store) -> Vec<(u32, i64)> {
    (1..=CALLERS)
        .map(|c| {
            let r = journal::record_start(
                store.conn(),
                &NewTransaction {
                    connector: c,
                    id_tag: format!("tag{c}"),
                    started_at: 0,
                    meter_start_wh: 0,
                    payload: json!({"connectorId": c, "idTag": "t", "meterStart": 0}),
                },
            )
            .expect("start");
            (c, r.tx)
        })
        .collect()
}

async fn concurrent(w: &WriterHandle, txs: &[(u32, i64)], round: i64) {
    let mut tasks = Vec::new();
    for &(c, tx) in txs {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_CALLER {
                w.record_sample(sample(tx, c, round * PER_CALLER + i))
                    .await
                    .expect("sample");
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
}

async fn sequential(w: &WriterHandle, txs: &[(u32, i64)], round: i64) {
    for &(c, tx) in txs {
        for i in 0..PER_CALLER {
            w.record_sample(sample(tx, c, round * PER_CALLER + i))
                .await
                .expect("sample");
        }
    }
}

fn bench_writer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("journal_samples");
    group.throughput(Throughput::Elements(WRITES));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));

    for (name, max_batch, parallel) in [
        ("16_callers/batch_1", 1, true),
        ("16_callers/batch_64", 64, true),
        ("1_caller/batch_64", 64, false),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("bench.db")).expect("open");
        let txs = setup(&store);
        let options = WriterOptions {
            queue: 256,
            max_batch,
        };
        let w = StoreWriter::spawn_with(store, options).expect("writer");
        let mut round = 0i64;
        group.bench_function(name, |b| {
            b.iter(|| {
                round += 1;
                if parallel {
                    rt.block_on(concurrent(&w, &txs, round));
                } else {
                    rt.block_on(sequential(&w, &txs, round));
                }
            })
        });
        let s = w.stats();
        println!(
            "{name}: {} writes in {} commits, {:.1} writes per commit",
            s.requests,
            s.commits,
            s.requests as f64 / s.commits.max(1) as f64
        );
        rt.block_on(w.shutdown()).expect("shutdown");
    }

    // The floor without the writer: each write its own autocommit transaction, same thread.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("direct.db")).expect("open");
    let txs = setup(&store);
    let mut round = 0i64;
    group.bench_function("direct/commit_each", |b| {
        b.iter(|| {
            round += 1;
            for &(c, tx) in &txs {
                for i in 0..PER_CALLER {
                    journal::record_sample(store.conn(), &sample(tx, c, round * PER_CALLER + i))
                        .expect("sample");
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_writer);
criterion_main!(benches);
