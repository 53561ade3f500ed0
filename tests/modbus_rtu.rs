//! The bus speaking RTU: over a pseudo-terminal pair (serial line) and over TCP.

mod modbus_support;

use hubgate::modbus::{
    Bus, BusError, BusHandle, BusOptions, ModbusException, Parity, RegisterKind, SerialLine,
    StopBits, Transport, scan,
};
use modbus_support::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fast_options() -> BusOptions {
    BusOptions {
        request_timeout: Duration::from_millis(80),
        connect_timeout: Duration::from_millis(500),
        resync_quiet: Duration::from_millis(10),
        failures_before_backoff: 1,
        backoff_initial: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
        reconnect_initial: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(100),
        ..BusOptions::default()
    }
}

fn serial(path: &str) -> Transport {
    Transport::Rtu(SerialLine {
        path: path.to_owned(),
        baud_rate: 19_200,
        parity: Parity::Even,
        stop_bits: StopBits::One,
    })
}

async fn exercise_registers(bus: &BusHandle, bank: &Bank) {
    let h = bounded(bus.read(1, RegisterKind::Holding, 0, 10))
        .await
        .unwrap();
    assert_eq!(h, (0..10).map(|a| holding_value(1, a)).collect::<Vec<_>>());
    let i = bounded(bus.read(2, RegisterKind::Input, 40, 10))
        .await
        .unwrap();
    assert_eq!(i, (40..50).map(|a| input_value(2, a)).collect::<Vec<_>>());
    bounded(bus.write_single(1, 99, 12_345)).await.unwrap();
    assert_eq!(bank.holding(1, 99), 12_345);
    bounded(bus.write_multiple(2, 0, &[7, 8, 9])).await.unwrap();
    let back = bounded(bus.read(2, RegisterKind::Holding, 0, 4))
        .await
        .unwrap();
    assert_eq!(back, vec![7, 8, 9, holding_value(2, 3)]);
    let err = bounded(bus.read(1, RegisterKind::Input, 45, 10))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BusError::Exception(ModbusException::IllegalDataAddress)
    );
    // The exception did not disturb the bus.
    let again = bounded(bus.read(1, RegisterKind::Input, 45, 5))
        .await
        .unwrap();
    assert_eq!(
        again,
        (45..50).map(|a| input_value(1, a)).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn rtu_over_pty_reads_writes_and_reports_exceptions() {
    let bank = Bank::with_units(&[1, 2]);
    let (path, _keep, _server) = rtu_pty_server(bank.clone());
    let bus = Bus::spawn("rtu-pty", serial(&path), fast_options());
    exercise_registers(&bus, &bank).await;
    let s = bus.stats();
    assert_eq!((s.transactions, s.ok, s.exceptions), (7, 6, 1));
    assert!(s.transport.starts_with("rtu://"), "{}", s.transport);
}

#[tokio::test]
async fn rtu_over_tcp_reads_writes_and_reports_exceptions() {
    let bank = Bank::with_units(&[1, 2]);
    let (addr, _server) = rtu_over_tcp_server(bank.clone()).await;
    let transport = Transport::RtuOverTcp {
        address: addr.to_string(),
    };
    let bus = Bus::spawn("rtu-tcp", transport, fast_options());
    exercise_registers(&bus, &bank).await;
    assert_eq!(bus.stats().ok, 6);
}

#[tokio::test]
async fn rtu_dead_unit_backs_off_while_live_units_are_served() {
    const CYCLES: u64 = 20;
    let bank = Bank::with_units(&[1, 2]);
    let (path, _keep, _server) = rtu_pty_server(bank);
    let opts = fast_options();
    let bus = Bus::spawn("rtu-dead", serial(&path), opts.clone());
    for _ in 0..CYCLES {
        for unit in [1u8, 2] {
            let v = bounded(bus.read(unit, RegisterKind::Holding, 5, 1))
                .await
                .unwrap();
            assert_eq!(v, vec![holding_value(unit, 5)]);
        }
        let err = bounded(bus.read(17, RegisterKind::Holding, 5, 1))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                BusError::Timeout(_) | BusError::Backoff { unit: 17, .. }
            ),
            "{err}"
        );
    }
    let s = bus.stats();
    let dead = s.unit(17).unwrap();
    assert_eq!((dead.timeouts, dead.backoff_rejections), (1, CYCLES - 1));
    assert_eq!(s.transactions, 2 * CYCLES + 1);
    assert!(s.transaction_share(17) < 0.10);
    assert_eq!(
        s.connects, 1,
        "a timeout resynchronises the line, it does not reopen it"
    );
}

#[tokio::test]
async fn unit_zero_and_reserved_units_are_refused_on_rtu() {
    let bank = Bank::with_units(&[1]);
    let (path, _keep, _server) = rtu_pty_server(bank);
    let bus = Bus::spawn("rtu-units", serial(&path), fast_options());
    for unit in [0u8, 248, 255] {
        let err = bounded(bus.read(unit, RegisterKind::Holding, 0, 1))
            .await
            .unwrap_err();
        assert!(matches!(err, BusError::InvalidRequest(_)), "{unit}: {err}");
    }
    assert_eq!(bus.stats().transactions, 0);
}

#[tokio::test]
async fn garbage_on_the_serial_line_gives_clear_errors_and_the_bus_recovers() {
    let bank = Bank::with_units(&[1]);
    let (path, injector, _keep) = relayed_rtu_pty_server(bank);
    let opts = BusOptions {
        failures_before_backoff: 2,
        ..fast_options()
    };
    let bus = Bus::spawn("rtu-garbage", serial(&path), opts);
    let read = || bus.read(1, RegisterKind::Holding, 10, 2);
    let good = vec![holding_value(1, 10), holding_value(1, 11)];
    assert_eq!(bounded(read()).await.unwrap(), good);

    // An FC3 request is 8 bytes on the wire; each case replaces the reply.
    let mut bad_crc = with_crc(&[1, 3, 4, 0, 1, 0, 2]);
    bad_crc[7] ^= 0xFF;
    let cases: [(&str, Vec<u8>); 4] = [
        ("bad CRC", bad_crc),
        ("short frame", with_crc(&[1, 3, 2, 0xAB, 0xCD])),
        ("other unit", with_crc(&[5, 3, 4, 0, 1, 0, 2])),
        ("noise", b"\xff\x00 line noise \x00\xff".to_vec()),
    ];
    for (what, bytes) in cases {
        injector.reply_next(8, bytes);
        let err = bounded(read()).await.unwrap_err();
        assert!(matches!(err, BusError::Malformed(_)), "{what}: {err}");
        println!("{what}: {err}");
        assert_eq!(bounded(read()).await.unwrap(), good, "after {what}");
    }
    let s = bus.stats();
    assert_eq!(s.malformed, 4);
    assert_eq!(s.ok, 5);
    assert_eq!(s.unit(1).unwrap().health.consecutive_failures(), 0);
}

/// A slow device answers after the timeout: its late reply is discarded during resync and is
/// not taken as the answer to the next request (same unit, same function, same length).
#[tokio::test]
async fn a_late_reply_is_never_taken_for_the_next_answer() {
    let bank = Bank::with_units(&[3]);
    let (path, _keep, _server) = rtu_pty_server(bank.clone());
    let opts = BusOptions {
        failures_before_backoff: 3,
        resync_quiet: Duration::from_millis(500),
        ..fast_options()
    };
    let bus = Bus::spawn("rtu-late", serial(&path), opts.clone());
    // The reply comes at least 2x the timeout after the request (a sleep never ends early).
    bank.delay(3, opts.request_timeout * 2);
    let err = bounded(bus.read(3, RegisterKind::Holding, 0, 1))
        .await
        .unwrap_err();
    assert_eq!(err, BusError::Timeout(opts.request_timeout));
    bank.delay(3, Duration::ZERO);
    let v = bounded(bus.read(3, RegisterKind::Holding, 1, 1))
        .await
        .unwrap();
    assert_eq!(
        v,
        vec![holding_value(3, 1)],
        "the late reply carried register 0"
    );
    let s = bus.stats();
    assert_eq!(
        s.discarded_bytes, 7,
        "unit, function, count, 2 data bytes, CRC"
    );
    assert_eq!(s.resyncs, 1);
    assert_eq!(
        s.connects, 1,
        "resynchronised on the open line, not reopened"
    );
}

/// A hand-written device on the pty answers FC3 reads with a fixed value and notes when each
/// request arrived: the bus keeps the configured silent interval between transactions.
#[tokio::test]
async fn the_silent_interval_is_kept_between_transactions() {
    const REQUESTS: usize = 5;
    let gap = Duration::from_millis(30);
    let Pty {
        path,
        mut device,
        port: _keep,
    } = pty();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut req = [0u8; 8];
        loop {
            if device.read_exact(&mut req).await.is_err() {
                return;
            }
            let arrived = Instant::now();
            let reply = with_crc(&[req[0], 3, 2, 0x12, 0x34]);
            if device.write_all(&reply).await.is_err() {
                return;
            }
            let _ = tx.send((arrived, Instant::now()));
        }
    });
    let opts = BusOptions {
        inter_frame_delay: Some(gap),
        ..fast_options()
    };
    let bus = Bus::spawn("rtu-gap", serial(&path), opts);
    for _ in 0..REQUESTS {
        let v = bounded(bus.read(4, RegisterKind::Holding, 0, 1))
            .await
            .unwrap();
        assert_eq!(v, vec![0x1234]);
    }
    let mut times = Vec::new();
    while let Ok(t) = rx.try_recv() {
        times.push(t);
    }
    assert_eq!(times.len(), REQUESTS);
    for pair in times.windows(2) {
        let (_, replied) = pair[0];
        let (next_request, _) = pair[1];
        // The bus waits `gap` after receiving the reply, which it can only do after it was sent.
        assert!(
            next_request - replied >= gap,
            "{:?}",
            next_request - replied
        );
    }
    let u = bus.unit_stats(4).unwrap();
    assert!(u.bus_time >= gap * REQUESTS as u32);
}

#[tokio::test]
async fn scan_finds_units_that_answer_even_with_an_exception() {
    let bank = Bank::with_units(&[2, 4, 5]);
    bank.refuse_all(4);
    bank.silence(5);
    let (path, _keep, _server) = rtu_pty_server(bank);
    let bus = Bus::spawn("rtu-scan", serial(&path), fast_options());
    let found = bounded(scan(&bus, 0..=6)).await.unwrap();
    assert_eq!(found, vec![2, 4]);
    let s = bus.stats();
    // Unit 0 (broadcast) is skipped; 1..=6 are probed once each.
    assert_eq!(s.probes, 6);
    assert!(
        s.units.is_empty(),
        "probes leave units' health and counters alone"
    );
    assert_eq!(s.connects, 1);
    // Silent units are not in backoff after a scan: polling them is tried right away.
    let err = bounded(bus.read(5, RegisterKind::Holding, 0, 1))
        .await
        .unwrap_err();
    assert_eq!(err, BusError::Timeout(Duration::from_millis(80)));
}

#[tokio::test]
async fn a_missing_serial_port_is_a_connection_error() {
    let bus = Bus::spawn(
        "rtu-missing",
        serial("/dev/hubgate-no-such-port"),
        fast_options(),
    );
    let err = bounded(bus.read(1, RegisterKind::Holding, 0, 1))
        .await
        .unwrap_err();
    match &err {
        BusError::Io { kind, message } => {
            assert_eq!(*kind, std::io::ErrorKind::NotFound, "{message}");
            assert!(message.contains("/dev/hubgate-no-such-port"), "{message}");
        }
        other => panic!("expected an I/O error, got {other}"),
    }
    assert_eq!(bus.stats().transactions, 0);
}
