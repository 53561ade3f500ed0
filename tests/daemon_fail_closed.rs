//! The daemon fails closed when the sessions cannot start or die: with the credentials file
//! unreadable at run time, or the sessions task panicking, every charger is paused (no
//! unauthorized, unrecorded charging), an ERROR says why, and the sessions are started again
//! until they run.

mod ocpp_support;
mod support;

use ocpp_support::Csms;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::site::{SMALL_SITE, simulate};

const BIN: &str = env!("CARGO_BIN_EXE_hubgate");

fn status_json(runtime: &Path) -> Option<serde_json::Value> {
    let out = Command::new(BIN)
        .args(["status", "--json", "--socket"])
        .arg(runtime.join("hubgate.sock"))
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// Waits (bounded) until the daemon's log holds `needle`.
async fn log_contains(log: &Path, needle: &str, within: Duration) -> String {
    let end = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < end,
            "no {needle:?} in the log within {within:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, then a clean exit within a bounded wait.
async fn stop_cleanly(child: &mut std::process::Child) {
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "the daemon did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_credentials_file_pauses_every_charger_until_the_sessions_start() {
    let sim = simulate(SMALL_SITE, [5.0, 5.0, 5.0]).await;
    sim.plug_in("c1", 32.0);
    let mut csms = Csms::start(&["--password", "pw-42"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (state, runtime) = (dir.path().join("state"), dir.path().join("run"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    let secret = dir.path().join("ocpp-password");
    let config = dir.path().join("site.toml");
    let text = format!(
        "{}\n[ocpp]\ncsms_url = \"ws://127.0.0.1:{}/ocpp\"\nidentity = \"hub-1\"\n\
         security_profile = 1\ncredentials_file = \"{}\"\n",
        sim.config_toml(),
        csms.port,
        secret.display()
    );
    std::fs::write(&config, text).unwrap();
    let log = dir.path().join("stderr.log");

    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("STATE_DIRECTORY", &state)
        .env("RUNTIME_DIRECTORY", &runtime)
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // The sessions cannot start: an ERROR names the file, and the chargers are paused.
    let text = log_contains(&log, "sessions not started", Duration::from_secs(20)).await;
    assert!(text.contains("ERROR"), "{text}");
    assert!(text.contains(&secret.display().to_string()), "{text}");
    assert!(text.contains("every charger is paused"), "{text}");
    let mut views = 0;
    let end = Instant::now() + Duration::from_secs(20);
    while views < 5 {
        assert!(Instant::now() < end, "no status views");
        if let Some(v) = status_json(&runtime)
            && let Some(c1) = v["chargers"].as_array().and_then(|c| c.first())
            && c1["reason"].is_string()
        {
            let reason = c1["reason"].as_str().unwrap_or_default();
            assert_eq!(c1["setpoint_a"].as_f64(), Some(0.0), "{v}");
            assert!(reason.contains("paused"), "{v}");
            views += 1;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The file appears: the retry starts the sessions, the site boots at the CSMS.
    std::fs::write(&secret, "pw-42\n").unwrap();
    csms.wait_for("a connection", Duration::from_secs(30), |e| {
        e["event"] == "connected"
    })
    .await;
    csms.recv_call("BootNotification").await;
    log_contains(&log, "sessions started", Duration::from_secs(10)).await;

    stop_cleanly(&mut child).await;
    csms.quit().await;
    drop(sim);
}

/// Waits (bounded) until charger c1's view satisfies `ok`.
async fn until_c1(runtime: &Path, what: &str, ok: impl Fn(&serde_json::Value) -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    let mut last = serde_json::Value::Null;
    loop {
        if let Some(v) = status_json(runtime)
            && let Some(c1) = v["chargers"].as_array().and_then(|c| c.first())
        {
            if ok(c1) {
                return;
            }
            last = c1.clone();
        }
        assert!(Instant::now() < end, "c1 never {what}: {last}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sessions task panics (a fault injected through a file, debug builds only): the daemon
/// notices, pauses every charger (free vend: no charging without a recorded transaction), and
/// starts the sessions again until they run; the car then charges in a new recorded session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_task_that_dies_pauses_the_chargers_and_is_restarted() {
    let sim = simulate(SMALL_SITE, [5.0, 5.0, 5.0]).await;
    sim.plug_in("c1", 32.0);
    let dir = tempfile::tempdir().unwrap();
    let (state, runtime) = (dir.path().join("state"), dir.path().join("run"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    let config = dir.path().join("site.toml");
    let mut table: toml::Table = sim.config_toml().parse().unwrap();
    table
        .entry("auth")
        .or_insert_with(|| toml::Table::new().into())
        .as_table_mut()
        .unwrap()
        .insert("free_vend_id_tag".into(), "FREE".into());
    std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    let fault = dir.path().join("fault");
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("STATE_DIRECTORY", &state)
        .env("RUNTIME_DIRECTORY", &runtime)
        .env("RUST_LOG", "info")
        .env("HUBGATE_FAULT_SESSIONS_PANIC", &fault)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // Charging in a free-vend session first.
    until_c1(&runtime, "charged", |c| {
        c["setpoint_a"].as_f64().unwrap_or(0.0) >= 6.0
    })
    .await;

    // The sessions task dies: an ERROR, and the charger is paused while they are down.
    std::fs::write(&fault, "").unwrap();
    let text = log_contains(&log, "the sessions task failed", Duration::from_secs(10)).await;
    assert!(text.contains("ERROR"), "{text}");
    assert!(text.contains("every charger is paused"), "{text}");
    until_c1(&runtime, "paused", |c| {
        c["setpoint_a"].as_f64() == Some(0.0)
            && c["reason"].as_str().is_some_and(|r| r.contains("paused"))
    })
    .await;

    // The fault is gone: the next retry starts the sessions, and the car charges again.
    std::fs::remove_file(&fault).unwrap();
    log_contains(&log, "sessions started", Duration::from_secs(20)).await;
    until_c1(&runtime, "charged again", |c| {
        c["setpoint_a"].as_f64().unwrap_or(0.0) >= 6.0
    })
    .await;

    stop_cleanly(&mut child).await;
    drop(sim);
}
