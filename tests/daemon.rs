//! The daemon as systemd runs it: `hubgate run` against a simulated site, with systemd's
//! environment (NOTIFY_SOCKET, WATCHDOG_USEC, STATE_DIRECTORY, RUNTIME_DIRECTORY). It must send
//! READY and watchdog pings, serve `hubgate status`, keep running on a bad config reload, apply a
//! good one, and stop cleanly on SIGTERM.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::site::{SMALL_SITE, simulate};

const BIN: &str = env!("CARGO_BIN_EXE_hubgate");

/// systemd's side of the notify protocol: a datagram socket the daemon writes to.
struct NotifySocket {
    sock: UnixDatagram,
}

impl NotifySocket {
    fn bind(path: &Path) -> Self {
        let sock = UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        NotifySocket { sock }
    }

    /// Messages until one contains `needle` (bounded); returns that message.
    fn wait_for(&self, needle: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while Instant::now() < end {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.contains(needle) {
                    return msg;
                }
                seen.push(msg);
            }
        }
        panic!("no notify message with {needle:?} within {within:?}; got {seen:?}");
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < end,
            "the daemon did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status_json(runtime: &Path) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["status", "--json", "--socket"])
        .arg(runtime.join("hubgate.sock"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_as_a_systemd_notify_service_reloads_and_stops_cleanly() {
    let sim = simulate(SMALL_SITE, [5.0, 5.0, 5.0]).await;
    sim.plug_in("c1", 32.0);
    let dir = tempfile::tempdir().unwrap();
    let (state, runtime) = (dir.path().join("state"), dir.path().join("run"));
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    let config = dir.path().join("site.toml");
    let good = sim.config_toml();
    std::fs::write(&config, &good).unwrap();
    let notify = NotifySocket::bind(&dir.path().join("notify.sock"));

    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", dir.path().join("notify.sock"))
        .env("WATCHDOG_USEC", "1000000")
        .env("STATE_DIRECTORY", &state)
        .env("RUNTIME_DIRECTORY", &runtime)
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let ready = tokio::task::block_in_place(|| notify.wait_for("READY=1", Duration::from_secs(20)));
    assert!(ready.contains("STATUS=site t"), "{ready}");
    tokio::task::block_in_place(|| notify.wait_for("WATCHDOG=1", Duration::from_secs(10)));

    // The live view over the status socket: the car on c1 gets current.
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let v = tokio::task::block_in_place(|| status_json(&runtime));
        let c1 = &v["chargers"][0];
        if c1["setpoint_a"].as_f64().unwrap_or(0.0) >= 6.0 && v["grid_current_a"].is_array() {
            assert_eq!(c1["name"], "c1");
            break;
        }
        assert!(Instant::now() < end, "no setpoint for c1: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The database is where systemd said, and it holds the status history.
    let db = state.join("hubgate.db");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let changes = hubgate::store::Store::open_read_only(&db)
            .ok()
            .and_then(|s| hubgate::store::history::status_changes(s.conn(), 0, i64::MAX).ok())
            .map_or(0, |c| c.len());
        if changes >= 3 {
            break;
        }
        assert!(
            Instant::now() < end,
            "no status history in {}",
            db.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A broken config: reported, the running one kept.
    std::fs::write(&config, good.replace("grid_limit_a", "grid_limt_a")).unwrap();
    signal(&child, "HUP");
    tokio::task::block_in_place(|| notify.wait_for("RELOADING=1", Duration::from_secs(10)));
    let msg = tokio::task::block_in_place(|| notify.wait_for("READY=1", Duration::from_secs(10)));
    assert!(msg.contains("reload failed"), "{msg}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon died on a bad config"
    );
    let v = tokio::task::block_in_place(|| status_json(&runtime));
    assert_eq!(v["grid_limit_a"][0].as_f64(), Some(39.0));

    // A good one: applied.
    std::fs::write(
        &config,
        good.replace(
            "grid_limit_a = [40.0, 40.0, 40.0]",
            "grid_limit_a = [35.0, 35.0, 35.0]",
        ),
    )
    .unwrap();
    signal(&child, "HUP");
    let msg =
        tokio::task::block_in_place(|| notify.wait_for("STATUS=site t", Duration::from_secs(10)));
    assert!(msg.contains("35 A"), "{msg}");
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let v = tokio::task::block_in_place(|| status_json(&runtime));
        if v["grid_limit_a"][0].as_f64() == Some(34.0) {
            break;
        }
        assert!(Instant::now() < end, "new limit not in force: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // SIGTERM: STOPPING=1 and exit 0.
    signal(&child, "TERM");
    tokio::task::block_in_place(|| notify.wait_for("STOPPING=1", Duration::from_secs(10)));
    let status = tokio::task::block_in_place(|| wait_exit(&mut child, Duration::from_secs(20)));
    assert!(status.success(), "exit status {status}");
    drop(sim);
}

#[test]
fn a_config_with_problems_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        SMALL_SITE.replace("driver = \"abb-terra-ac\"", "driver = \"abb-tera-ac\""),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("abb-tera-ac"), "{err}");
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did you mean") && err.contains("abb-terra-ac"),
        "{err}"
    );
    assert!(
        err.matches("line ").count() >= 3,
        "every charger's driver named with its line: {err}"
    );
}

/// A charger driver whose keep-alive period is absurd (1e300 s), from a drivers directory: the
/// daemon refuses it at start with an error naming the file and the key, and drives nothing. (A
/// device task that fails at run time is restarted: `tests/supervision.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_keepalive_is_refused_at_start() {
    let sim = simulate(SMALL_SITE, [5.0, 5.0, 5.0]).await;
    let dir = tempfile::tempdir().unwrap();
    let (state, runtime) = (dir.path().join("state"), dir.path().join("run"));
    let drivers = dir.path().join("drivers");
    for d in [&state, &runtime, &drivers] {
        std::fs::create_dir_all(d).unwrap();
    }
    let terra = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("drivers/abb-terra-ac.toml"),
    )
    .unwrap();
    assert!(
        terra.contains("period_s = 15"),
        "the keep-alive this test changes"
    );
    let absurd = terra
        .replace(
            "name = \"abb-terra-ac\"",
            "name = \"terra-absurd-keepalive\"",
        )
        .replace("period_s = 15", "period_s = 1e300");
    std::fs::write(drivers.join("terra-absurd-keepalive.toml"), absurd).unwrap();
    let mut config: toml::Table = sim.config_toml().parse().unwrap();
    config["chargers"].as_array_mut().unwrap()[0]
        .as_table_mut()
        .unwrap()
        .insert("driver".into(), "terra-absurd-keepalive".into());
    let mut search = toml::Table::new();
    search.insert("dirs".into(), toml::Value::Array(vec!["drivers".into()]));
    config.insert("drivers".into(), toml::Value::Table(search));
    let config_path = dir.path().join("site.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();

    let out = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config_path)
            .env("STATE_DIRECTORY", &state)
            .env("RUNTIME_DIRECTORY", &runtime)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .output()
            .unwrap()
    });
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("period_s"), "the key is named: {err}");
    assert!(
        err.contains("terra-absurd-keepalive"),
        "the file is named: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        std::fs::read_dir(&runtime).unwrap().next().is_none(),
        "no status socket: nothing started"
    );
}
