//! `hubgate run` under libfaketime (Debian package `faketime`, installed by tests/provision.sh)
//! against the independent CSMS and the simulated site: its wall clock is set back an hour and
//! forward a day while it runs (its monotonic clock is left alone), and heartbeats go on and a
//! StartTransaction the CSMS refused is retried after TransactionMessageRetryInterval.

mod ocpp_support;
mod support;

use ocpp_support::Csms;
use serde_json::json;
use std::path::{Path, PathBuf};
use support::site::{SMALL_SITE, simulate};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_hubgate");

/// libfaketime's preload library.
fn libfaketime() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")])
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("this test needs libfaketime: apt-get install faketime (see tests/provision.sh)")
    })
}

/// Set the daemon's wall clock `offset` away from the real one (libfaketime's relative
/// format, e.g. `-1h`, `+1d`); replaced atomically so it never reads a half-written file.
fn set_offset(file: &Path, offset: &str) {
    let tmp = file.with_extension("new");
    std::fs::write(&tmp, format!("{offset}\n")).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

fn spawn_daemon(config: &Path, dir: &Path, offset_file: &Path) -> Child {
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .env("RUNTIME_DIRECTORY", dir.join("run"))
        .env("RUST_LOG", "warn,hubgate::ocpp=info")
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME_TIMESTAMP_FILE", offset_file)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// The CSMS has seen the daemon handle everything before now: its own CALL was answered.
async fn settled(csms: &mut Csms) {
    let p = csms
        .call_ok("GetConfiguration", json!({"key": ["HeartbeatInterval"]}))
        .await;
    assert!(p["configurationKey"].is_array(), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_keeps_its_timers_when_its_wall_clock_jumps() {
    let mut csms = Csms::start(&["--boot-interval", "1"]).await;
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
    // clock-aligned data, so the daemon notices the jumps (and says so)
    for (k, v) in [
        ("TransactionMessageRetryInterval", "3"),
        ("ClockAlignedDataInterval", "900"),
    ] {
        writer.set_setting(k, v, 0).await.unwrap();
    }
    writer.shutdown().await.unwrap();
    let mut config = sim.config.clone();
    config.storage.database = Some(db.clone());
    let config_path = dir.path().join("site.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
    let offset = dir.path().join("faketime");
    set_offset(&offset, "+0");
    let mut daemon = spawn_daemon(&config_path, dir.path(), &offset);

    csms.recv_call("BootNotification").await;
    csms.recv_call("Heartbeat").await;
    settled(&mut csms).await;
    set_offset(&offset, "-1h");
    for _ in 0..3 {
        csms.recv_call("Heartbeat").await;
    }

    // a car; the CSMS refuses its StartTransaction once
    csms.command(json!({"cmd": "fail", "action": "StartTransaction", "times": 1}))
        .await;
    sim.plug_in("c1", 16.0);
    let first = csms.recv_call("StartTransaction").await;
    csms.wait("the refusal", |e| {
        e["event"] == "csms_callerror" && e["frame"][2] == "InternalError"
    })
    .await;
    settled(&mut csms).await;
    // the retry is due 3 s after the refusal: set the wall clock back another hour first
    set_offset(&offset, "-2h");
    let again = csms.recv_call("StartTransaction").await;
    assert_eq!(again, first, "the same message is sent again");

    set_offset(&offset, "+1d");
    for _ in 0..3 {
        csms.recv_call("Heartbeat").await;
    }
    daemon.start_kill().unwrap();
    let _ = daemon.wait().await;
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
    // the jumps reached the daemon's wall clock (libfaketime works with the binary)
    let jumps = log.matches("the wall clock jumped").count();
    assert!(jumps >= 2, "{jumps} jumps noticed: {log}");
    csms.quit().await;
}
