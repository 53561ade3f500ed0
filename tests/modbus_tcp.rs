//! The bus against a real Modbus TCP server on loopback.

mod modbus_support;

use hubgate::modbus::{
    Bus, BusError, BusOptions, LinkStatus, ModbusException, RegisterKind, Transport, scan,
};
use modbus_support::*;
use std::time::{Duration, Instant};

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

fn tcp(addr: std::net::SocketAddr) -> Transport {
    Transport::Tcp {
        address: addr.to_string(),
    }
}

#[tokio::test]
async fn reads_and_writes_holding_and_input_registers() {
    let bank = Bank::with_units(&[1, 2]);
    let (addr, _server) = tcp_server(bank.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let bus = Bus::spawn("tcp-test", tcp(addr), fast_options());

    let h = bounded(bus.read(1, RegisterKind::Holding, 10, 5))
        .await
        .unwrap();
    assert_eq!(h, (10..15).map(|a| holding_value(1, a)).collect::<Vec<_>>());
    let i = bounded(bus.read(2, RegisterKind::Input, 0, 3))
        .await
        .unwrap();
    assert_eq!(i, vec![2500, 2501, 2502]);

    bounded(bus.write_single(2, 7, 0xBEEF)).await.unwrap();
    assert_eq!(bank.holding(2, 7), 0xBEEF);
    bounded(bus.write_multiple(1, 20, &[1, 2, 3]))
        .await
        .unwrap();
    let back = bounded(bus.read(1, RegisterKind::Holding, 19, 5))
        .await
        .unwrap();
    assert_eq!(
        back,
        vec![holding_value(1, 19), 1, 2, 3, holding_value(1, 23)]
    );

    let stats = bus.stats();
    assert_eq!((stats.requests, stats.transactions, stats.ok), (5, 5, 5));
    assert_eq!(stats.unit(1).unwrap().transactions, 3);
    assert!(matches!(stats.link, LinkStatus::Connected { .. }));
    assert!(stats.bytes_sent > 0 && stats.bytes_received > 0);
}

#[tokio::test]
async fn exception_is_reported_with_code_and_the_bus_goes_on() {
    let bank = Bank::with_units(&[1]);
    let (addr, _server) = tcp_server(bank, "127.0.0.1:0".parse().unwrap()).await;
    let bus = Bus::spawn("tcp-exc", tcp(addr), fast_options());

    let err = bounded(bus.read(1, RegisterKind::Holding, 98, 5))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BusError::Exception(ModbusException::IllegalDataAddress)
    );
    assert_eq!(err.to_string(), "Modbus exception 0x02 IllegalDataAddress");
    // An exception proves the device is alive: no backoff, the next request is served.
    let ok = bounded(bus.read(1, RegisterKind::Holding, 98, 2))
        .await
        .unwrap();
    assert_eq!(ok, vec![holding_value(1, 98), holding_value(1, 99)]);
    let u = bus.unit_stats(1).unwrap();
    assert_eq!(
        (u.exceptions, u.ok, u.health.consecutive_failures()),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn invalid_requests_never_reach_the_bus() {
    let bank = Bank::with_units(&[1]);
    let (addr, _server) = tcp_server(bank, "127.0.0.1:0".parse().unwrap()).await;
    let bus = Bus::spawn("tcp-invalid", tcp(addr), fast_options());
    let err = bounded(bus.read(1, RegisterKind::Input, 0, 126))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::InvalidRequest(_)), "{err}");
    let err = bounded(bus.write_multiple(1, 0, &[])).await.unwrap_err();
    assert!(matches!(err, BusError::InvalidRequest(_)), "{err}");
    assert_eq!(bus.stats().transactions, 0);
}

#[tokio::test]
async fn silent_unit_times_out_backs_off_and_live_unit_is_still_served() {
    let bank = Bank::with_units(&[1, 9]);
    bank.silence(9);
    let (addr, _server) = tcp_server(bank, "127.0.0.1:0".parse().unwrap()).await;
    let opts = fast_options();
    let bus = Bus::spawn("tcp-dead", tcp(addr), opts.clone());

    let before = Instant::now();
    let err = bounded(bus.read(9, RegisterKind::Holding, 0, 1))
        .await
        .unwrap_err();
    assert_eq!(err, BusError::Timeout(opts.request_timeout));
    let err = bounded(bus.read(9, RegisterKind::Holding, 0, 1))
        .await
        .unwrap_err();
    match err {
        BusError::Backoff { unit, until } => {
            assert_eq!(unit, 9);
            assert!(until >= before + opts.backoff_initial);
        }
        other => panic!("expected backoff, got {other}"),
    }
    for _ in 0..3 {
        let v = bounded(bus.read(1, RegisterKind::Holding, 0, 1))
            .await
            .unwrap();
        assert_eq!(v, vec![holding_value(1, 0)]);
    }
    let dead = bus.unit_stats(9).unwrap();
    assert_eq!(
        (dead.transactions, dead.timeouts, dead.backoff_rejections),
        (1, 1, 1)
    );
    assert!(dead.bus_time >= opts.request_timeout);
    assert!(dead.in_backoff(Instant::now()));
    // The live unit never failed, and the connection was kept.
    assert_eq!(bus.unit_stats(1).unwrap().ok, 3);
    assert_eq!(bus.stats().connects, 1);
}

/// A dead device among live ones: over N poll cycles it gets one transaction slot (then fails
/// fast in backoff), so it holds well under 10 % of the slots and the live units' polling is
/// not delayed by more than that. Asserted on the bus's own accounting, not on wall-clock time.
#[tokio::test]
async fn dead_device_among_live_ones_takes_under_ten_percent_of_the_bus() {
    const CYCLES: u64 = 40;
    let live = [1u8, 2, 3];
    let bank = Bank::with_units(&[1, 2, 3]);
    let (addr, _server) = tcp_server(bank, "127.0.0.1:0".parse().unwrap()).await;
    let opts = BusOptions {
        failures_before_backoff: 2,
        ..fast_options()
    };
    let bus = Bus::spawn("tcp-poll", tcp(addr), opts.clone());
    for _ in 0..CYCLES {
        for &u in &live {
            let v = bounded(bus.read(u, RegisterKind::Input, 0, 4))
                .await
                .unwrap();
            assert_eq!(v[0], input_value(u, 0));
        }
        let r = bounded(bus.read(42, RegisterKind::Input, 0, 4)).await;
        assert!(r.is_err());
    }
    let s = bus.stats();
    let dead = s.unit(42).unwrap();
    // Two failures to enter backoff, then fail-fast for the rest of the run.
    assert_eq!(dead.transactions, u64::from(opts.failures_before_backoff));
    assert_eq!(dead.backoff_rejections, CYCLES - dead.transactions);
    for &u in &live {
        assert_eq!(s.unit(u).unwrap().ok, CYCLES);
    }
    assert_eq!(s.transactions, CYCLES * 3 + dead.transactions);
    // Share of transaction slots, and share of poll cycles in which the live units had to wait
    // behind the dead one.
    assert!(
        s.transaction_share(42) < 0.10,
        "{}",
        s.transaction_share(42)
    );
    let delayed_cycles = dead.transactions as f64 / CYCLES as f64;
    assert!(delayed_cycles <= 0.10, "{delayed_cycles}");
    // Its bus time is bounded by its slots: at most one timeout (plus resync) per slot.
    assert!(dead.bus_time >= opts.request_timeout * dead.transactions as u32);
    println!(
        "dead unit: {} slots of {}, bus time {:?} of {:?}",
        dead.transactions, s.transactions, dead.bus_time, s.busy
    );
}

/// A device answering just after the timeout (350 ms against 300 ms) on a gateway shared with a
/// healthy unit: its late replies are dropped by their transaction id, so the healthy unit
/// polled after it is never blamed, never backs off and keeps its full poll rate (counted in
/// successful polls over a fixed number of rounds), and every failure is the late unit's.
#[tokio::test]
async fn a_late_reply_is_dropped_and_never_blamed_on_the_next_unit() {
    const ROUNDS: u64 = 6;
    let (healthy, late) = (1u8, 7u8);
    let bank = Bank::with_units(&[healthy, late]);
    bank.delay(late, Duration::from_millis(350));
    let (addr, _server) = tcp_server(bank, "127.0.0.1:0".parse().unwrap()).await;
    let opts = BusOptions {
        request_timeout: Duration::from_millis(300),
        // Keep the late unit on the bus every round, so every round has a late reply.
        failures_before_backoff: 1000,
        ..fast_options()
    };
    let bus = Bus::spawn("tcp-late", tcp(addr), opts.clone());
    let mut healthy_ok = 0u64;
    for _ in 0..ROUNDS {
        match bounded(bus.read(healthy, RegisterKind::Input, 0, 4)).await {
            Ok(v) => {
                assert_eq!(v[0], input_value(healthy, 0));
                healthy_ok += 1;
            }
            Err(e) => panic!("healthy unit failed: {e}"),
        }
        let err = bounded(bus.read(late, RegisterKind::Input, 0, 4))
            .await
            .unwrap_err();
        assert_eq!(err, BusError::Timeout(opts.request_timeout));
    }
    // One more poll of the healthy unit takes in the last late reply.
    bounded(bus.read(healthy, RegisterKind::Input, 0, 4))
        .await
        .unwrap();
    healthy_ok += 1;

    let s = bus.stats();
    let h = s.unit(healthy).unwrap();
    // Baseline: one successful poll per round; within 10 % (here: all of them).
    assert!(healthy_ok * 10 >= (ROUNDS + 1) * 9, "{healthy_ok}");
    assert_eq!((h.ok, h.timeouts, h.malformed), (ROUNDS + 1, 0, 0));
    assert_eq!(h.health.consecutive_failures(), 0);
    assert!(!h.in_backoff(Instant::now()));
    let l = s.unit(late).unwrap();
    assert_eq!((l.transactions, l.timeouts, l.ok), (ROUNDS, ROUNDS, 0));
    assert_eq!(l.health.consecutive_failures(), ROUNDS as u32);
    // Every late reply was seen and dropped; the connection was never blamed either.
    assert_eq!(s.late_replies, ROUNDS);
    assert_eq!(s.connects, 1);
    assert_eq!(s.malformed, 0);
}

/// RTU framing over TCP has no transaction id: a late reply from another unit is dropped with a
/// resync and counts against no one, so the healthy unit never backs off (threshold 1 here).
#[tokio::test]
async fn a_late_rtu_over_tcp_reply_from_another_unit_is_not_blamed() {
    let (healthy, late) = (1u8, 7u8);
    let bank = Bank::with_units(&[healthy, late]);
    bank.delay(late, Duration::from_millis(350));
    let (addr, _server) = rtu_over_tcp_server(bank).await;
    let opts = BusOptions {
        request_timeout: Duration::from_millis(300),
        failures_before_backoff: 1,
        ..fast_options()
    };
    let transport = Transport::RtuOverTcp {
        address: addr.to_string(),
    };
    let bus = Bus::spawn("rtu-tcp-late", transport, opts.clone());
    for _ in 0..2 {
        let err = bounded(bus.read(late, RegisterKind::Holding, 0, 2))
            .await
            .unwrap_err();
        assert!(
            matches!(err, BusError::Timeout(_) | BusError::Backoff { .. }),
            "{err}"
        );
        // The late reply either arrives during the resync (dropped there) or in this
        // request's slot (dropped, and this one request fails without blame).
        match bounded(bus.read(healthy, RegisterKind::Holding, 0, 2)).await {
            Ok(v) => assert_eq!(v[0], holding_value(healthy, 0)),
            Err(BusError::Malformed(m)) => assert!(m.contains("does not belong"), "{m}"),
            Err(other) => panic!("healthy unit: {other}"),
        }
        let h = bus.unit_stats(healthy).unwrap();
        assert_eq!(h.health.consecutive_failures(), 0);
        assert!(!h.in_backoff(Instant::now()));
        let v = bounded(bus.read(healthy, RegisterKind::Holding, 0, 2))
            .await
            .unwrap();
        assert_eq!(v[0], holding_value(healthy, 0));
    }
    let l = bus.unit_stats(late).unwrap();
    assert_eq!(l.timeouts, 1);
    assert!(l.in_backoff(Instant::now()));
}

#[tokio::test]
async fn garbage_gives_a_clear_error_and_the_bus_recovers() {
    let bank = Bank::with_units(&[1]);
    let (upstream, _server) = tcp_server(bank, "127.0.0.1:0".parse().unwrap()).await;
    let injector = Injector::default();
    let (addr, _proxy) = tcp_proxy(upstream, injector.clone()).await;
    let opts = BusOptions {
        failures_before_backoff: 2,
        ..fast_options()
    };
    let bus = Bus::spawn("tcp-garbage", tcp(addr), opts);
    let read = || bus.read(1, RegisterKind::Holding, 3, 1);
    assert_eq!(bounded(read()).await.unwrap(), vec![holding_value(1, 3)]);

    // A frame header with a wrong protocol id: rejected as soon as it arrives.
    let bad_header = vec![0, 1, 0x12, 0x34, 0, 5, 1, 3, 2, 0, 0];
    injector.reply_next(12, bad_header);
    let err = bounded(read()).await.unwrap_err();
    assert!(
        matches!(&err, BusError::Malformed(m) if m.contains("protocol")),
        "{err}"
    );
    assert_eq!(bounded(read()).await.unwrap(), vec![holding_value(1, 3)]);

    // Line noise that never forms a frame: reported as garbage, not as a silent device.
    injector.reply_next(12, b"\r\nERROR noise\r\n".to_vec());
    let err = bounded(read()).await.unwrap_err();
    assert!(
        matches!(&err, BusError::Malformed(m) if m.contains("garbage")),
        "{err}"
    );
    assert_eq!(bounded(read()).await.unwrap(), vec![holding_value(1, 3)]);

    let s = bus.stats();
    assert_eq!(s.malformed, 2);
    assert_eq!(s.connects, 3, "reconnected after each garbled stream");
    // A single garbled reply does not put the unit in backoff (threshold 2), and the success
    // after it cleared the failure.
    assert_eq!(s.unit(1).unwrap().health.consecutive_failures(), 0);
}

#[tokio::test]
async fn server_restart_is_survived_and_unit_health_outlives_the_connection() {
    let bank = Bank::with_units(&[1, 9]);
    bank.silence(9);
    let (addr, server) = tcp_server(bank.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let bus = Bus::spawn("tcp-restart", tcp(addr), fast_options());
    assert!(
        bounded(bus.read(1, RegisterKind::Holding, 0, 1))
            .await
            .is_ok()
    );
    assert!(
        bounded(bus.read(9, RegisterKind::Holding, 0, 1))
            .await
            .is_err()
    );
    assert!(bus.unit_stats(9).unwrap().in_backoff(Instant::now()));

    server.abort();
    let _ = server.await;
    // The server's connection tasks wind down as soon as they run; until then a request may
    // still be answered on the old connection.
    let err = bounded(async {
        loop {
            if let Err(e) = bus.read(1, RegisterKind::Holding, 0, 1).await {
                break e;
            }
        }
    })
    .await;
    assert!(
        matches!(err, BusError::Io { .. } | BusError::Disconnected { .. }),
        "{err}"
    );

    let (_, _server) = tcp_server(bank, addr).await;
    let value = bounded(async {
        loop {
            match bus.read(1, RegisterKind::Holding, 0, 1).await {
                Ok(v) => break v,
                // The bus says when it will try again: wait for exactly that.
                Err(BusError::Disconnected { retry_at, .. }) => {
                    tokio::time::sleep_until(retry_at.into()).await
                }
                Err(e) => panic!("unexpected error after restart: {e}"),
            }
        }
    })
    .await;
    assert_eq!(value, vec![holding_value(1, 0)]);
    let s = bus.stats();
    assert_eq!(s.connects, 2);
    assert!(matches!(s.link, LinkStatus::Connected { .. }));
    // Unit 9's backoff survived the reconnect: it still fails fast.
    let err = bounded(bus.read(9, RegisterKind::Holding, 0, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::Backoff { unit: 9, .. }), "{err}");
}

#[tokio::test]
async fn closed_bus_refuses_requests() {
    let bank = Bank::with_units(&[1]);
    let (addr, _server) = tcp_server(bank, "127.0.0.1:0".parse().unwrap()).await;
    let bus = Bus::spawn("tcp-close", tcp(addr), fast_options());
    let other = bus.clone();
    assert!(
        bounded(bus.read(1, RegisterKind::Holding, 0, 1))
            .await
            .is_ok()
    );
    bounded(bus.close()).await;
    assert!(other.is_closed());
    let err = bounded(other.read(1, RegisterKind::Holding, 0, 1))
        .await
        .unwrap_err();
    assert_eq!(err, BusError::Closed);
}

#[tokio::test]
async fn unreachable_endpoint_reports_connection_errors_then_backs_off() {
    // Bind then drop a listener: nothing listens on that port any more.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let opts = BusOptions {
        reconnect_initial: Duration::from_secs(60),
        reconnect_max: Duration::from_secs(60),
        ..fast_options()
    };
    let bus = Bus::spawn("tcp-nowhere", tcp(addr), opts);
    let mut kinds = Vec::new();
    for _ in 0..3 {
        match bounded(bus.read(1, RegisterKind::Holding, 0, 1)).await {
            Err(BusError::Io { kind, .. }) => kinds.push(format!("io:{kind:?}")),
            Err(BusError::Disconnected { .. }) => kinds.push("disconnected".into()),
            other => panic!("unexpected {other:?}"),
        }
    }
    // The failed connect at start is retried at once by the first request; the second failure
    // starts the reconnect backoff, during which requests fail fast.
    assert_eq!(
        kinds,
        ["io:ConnectionRefused", "disconnected", "disconnected"]
    );
    let s = bus.stats();
    assert_eq!(s.connect_failures, 2);
    assert_eq!(s.transactions, 0);
    assert!(matches!(s.link, LinkStatus::Down { .. }));
}

#[tokio::test]
async fn scan_behind_a_gateway_lists_answering_units() {
    let bank = Bank::with_units(&[1, 3, 200]);
    bank.refuse_all(3);
    let (addr, _server) = tcp_server(bank, "127.0.0.1:0".parse().unwrap()).await;
    let bus = Bus::spawn("tcp-scan", tcp(addr), fast_options());
    let units = [0u8, 1, 2, 3, 4, 5, 200];
    assert_eq!(bounded(scan(&bus, units)).await.unwrap(), vec![1, 3, 200]);
    assert_eq!(bus.stats().probes, 7);
    assert_eq!(
        bus.stats().connects,
        1,
        "silent probes do not reopen the connection"
    );
}

#[tokio::test]
async fn scan_of_an_unreachable_bus_is_an_error() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let bus = Bus::spawn("tcp-scan-nowhere", tcp(addr), fast_options());
    let err = bounded(scan(&bus, 1..=3)).await.unwrap_err();
    assert!(
        matches!(err, BusError::Io { .. } | BusError::Disconnected { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_reopened_without_failing_a_request() {
    let bank = Bank::with_units(&[1]);
    let (upstream, _server) = tcp_server(bank, "127.0.0.1:0".parse().unwrap()).await;
    let (addr, proxy) = tcp_proxy(upstream, Injector::default()).await;
    let bus = Bus::spawn("tcp-idle", tcp(addr), fast_options());
    for _ in 0..3 {
        assert!(
            bounded(bus.read(1, RegisterKind::Input, 0, 1))
                .await
                .is_ok()
        );
        proxy.hang_up().await;
    }
    let s = bus.stats();
    assert_eq!((s.ok, s.errors()), (3, 0));
    assert_eq!(s.connects, 3);
}
