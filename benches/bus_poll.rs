//! One poll cycle of 32 devices on one RTU bus (a pseudo-terminal pair with a Modbus RTU server
//! on the far end): reading each device's 10 values with one request per value, versus one
//! request per device for the contiguous block.
//!
//! Criterion measures the wall time of a cycle. After each variant the bus's own accounting is
//! printed per cycle: requests, bytes, bus time, and the time the same traffic would hold a real
//! RS-485 line at 9600 baud 8E1 (bytes on the wire plus one silent interval per frame).

#[path = "../tests/modbus_support/mod.rs"]
mod modbus_support;

use criterion::{Criterion, criterion_group, criterion_main};
use hubgate::modbus::{
    Bus, BusHandle, BusOptions, BusStats, Parity, RegisterKind, SerialLine, StopBits, Transport,
};
use modbus_support::{Bank, rtu_pty_server};
use std::time::{Duration, Instant};

const DEVICES: u8 = 32;
const VALUES: u16 = 10;
const FIRST_REGISTER: u16 = 20;

#[derive(Clone, Copy)]
enum Plan {
    OneRequestPerValue,
    OneBlockPerDevice,
}

async fn poll_cycle(bus: &BusHandle, plan: Plan) -> u64 {
    let mut sum = 0u64;
    for unit in 1..=DEVICES {
        match plan {
            Plan::OneRequestPerValue => {
                for offset in 0..VALUES {
                    let v = bus
                        .read(unit, RegisterKind::Holding, FIRST_REGISTER + offset, 1)
                        .await
                        .expect("read");
                    sum += u64::from(v[0]);
                }
            }
            Plan::OneBlockPerDevice => {
                let v = bus
                    .read(unit, RegisterKind::Holding, FIRST_REGISTER, VALUES)
                    .await
                    .expect("read");
                sum += v.iter().map(|&x| u64::from(x)).sum::<u64>();
            }
        }
    }
    sum
}

fn report(name: &str, before: &BusStats, after: &BusStats, cycles: u64) {
    let line = SerialLine {
        path: String::new(),
        baud_rate: 9600,
        parity: Parity::Even,
        stop_bits: StopBits::One,
    };
    let requests = (after.transactions - before.transactions) / cycles;
    let bytes =
        (after.bytes_sent + after.bytes_received - before.bytes_sent - before.bytes_received)
            / cycles;
    let bus_time = (after.busy - before.busy) / cycles as u32;
    // Each request and each reply is one frame, preceded by a silent interval.
    let wire_9600 = line.wire_time(bytes) + line.silent_interval() * (2 * requests) as u32;
    eprintln!(
        "{name}: per cycle {requests} requests, {bytes} bytes, bus time {bus_time:?} on the pty \
         at 115200 baud pacing; on a 9600 baud 8E1 line this traffic takes {wire_9600:?}"
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let units: Vec<u8> = (1..=DEVICES).collect();
    let (bus, _keep, _server) = rt.block_on(async {
        let (path, keep, server) = rtu_pty_server(Bank::with_units(&units));
        let transport = Transport::Rtu(SerialLine {
            path,
            baud_rate: 115_200,
            parity: Parity::Even,
            stop_bits: StopBits::One,
        });
        let options = BusOptions {
            request_timeout: Duration::from_millis(500),
            ..BusOptions::default()
        };
        (Bus::spawn("bench", transport, options), keep, server)
    });

    let mut group = c.benchmark_group("poll_cycle_32_devices_10_values");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (name, plan) in [
        ("one_request_per_value", Plan::OneRequestPerValue),
        ("one_block_per_device", Plan::OneBlockPerDevice),
    ] {
        let before = bus.stats();
        let mut cycles = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                cycles += iters;
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        std::hint::black_box(poll_cycle(&bus, plan).await);
                    }
                    start.elapsed()
                })
            })
        });
        report(name, &before, &bus.stats(), cycles.max(1));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
