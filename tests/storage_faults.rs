//! Control never depends on storage: `hubgate run` against a simulated site, on a damaged, a
//! read-only and a full database. The chargers are balanced while the database cannot be
//! written, the fault is in the view and the log, and once the fault is gone the journal resumes
//! with every car session a transaction of its own, in order. A second daemon on the same
//! database is refused and leaves the first one's status socket alone.
//!
//! The read-only and full cases mount a small tmpfs, which needs root; without it they say so
//! and pass without running.

mod support;

use hubgate::config::StorageFailure;
use hubgate::store::Store;
use serde_json::Value;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::site::{SMALL_SITE, Simulated, simulate};

const BIN: &str = env!("CARGO_BIN_EXE_hubgate");
const WAIT: Duration = Duration::from_secs(30);

/// A running `hubgate run`, stopped (SIGTERM) when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
    runtime: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, config: &Path) -> Daemon {
        let runtime = dir.join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = dir.join(format!("daemon-{n}.log"));
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(config)
            .env("RUNTIME_DIRECTORY", &runtime)
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            log,
            runtime,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn status(&self) -> Option<Value> {
        let out = Command::new(BIN)
            .args(["status", "--json", "--socket"])
            .arg(self.runtime.join("hubgate.sock"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// The view, once `ok` holds for it (bounded).
    fn wait_for(&mut self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + WAIT;
        let mut last = None;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the daemon exited ({status}) waiting for {what}:\n{}",
                    self.log()
                );
            }
            if let Some(v) = self.status() {
                if ok(&v) {
                    return v;
                }
                last = Some(v);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "not within {WAIT:?}: {what}; last view {last:?}\n{}",
            self.log()
        );
    }

    /// Until the log holds `needle` (bounded).
    fn wait_log(&mut self, needle: &str) {
        let end = Instant::now() + WAIT;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < end,
                "no {needle:?} in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let end = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < end, "the daemon did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tmpfs of `size` at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn remount(&self, mode: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success(), "remount {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn can_mount() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        println!("skipped: mounting a tmpfs needs root");
    }
    root
}

/// The simulated site's config with its database at `db`, as a file in `dir`.
fn write_config(sim: &mut Simulated, dir: &Path, db: &Path, on_failure: StorageFailure) -> PathBuf {
    sim.config.storage.database = Some(db.to_path_buf());
    sim.config.storage.reopen_max_s = 1;
    sim.config.storage.on_failure = on_failure;
    let path = dir.join("site.toml");
    std::fs::write(&path, sim.config_toml()).unwrap();
    path
}

fn set_plugged(sim: &Simulated, name: &str, plugged: bool) {
    if plugged {
        sim.plug_in(name, 16.0);
    } else {
        let mut w = hubgate::sim::serve::lock(&sim.world);
        let i = w.charger_index(name).unwrap();
        w.site.chargers[i].unplug();
    }
}

fn storage(v: &Value) -> &Value {
    &v["uplink"]["storage"]
}

fn charger<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["chargers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

/// The site is balanced: every charger has a setpoint within its maximum and their sum within
/// the grid limit, with a fresh grid reading.
fn balanced(v: &Value) -> bool {
    let setpoints: Vec<f64> = v["chargers"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["setpoint_a"].as_f64()).collect())
        .unwrap_or_default();
    let limit = v["grid_limit_a"][0].as_f64().unwrap_or(0.0);
    setpoints.len() == 3 && setpoints.iter().sum::<f64>() <= limit && v["grid_current_a"].is_array()
}

/// (connector, started_at, stopped_at) of every journaled transaction, in id order.
fn transactions(db: &Path) -> Vec<(i64, i64, Option<i64>)> {
    let store = Store::open_read_only(db).unwrap();
    let mut stmt = store
        .conn()
        .prepare("SELECT connector, started_at, stopped_at FROM transactions ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// [`transactions`] once `ok` holds for them (bounded); the database may not be there yet.
fn wait_transactions(
    db: &Path,
    what: &str,
    ok: impl Fn(&[(i64, i64, Option<i64>)]) -> bool,
) -> Vec<(i64, i64, Option<i64>)> {
    let end = Instant::now() + WAIT;
    loop {
        let txs = std::panic::catch_unwind(|| transactions(db)).unwrap_or_default();
        if ok(&txs) {
            return txs;
        }
        assert!(Instant::now() < end, "{what}: {txs:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each transaction after the one before it, each stopped before the next starts.
fn in_order(txs: &[(i64, i64, Option<i64>)]) -> bool {
    txs.windows(2)
        .all(|w| w[0].2.is_some_and(|stop| stop <= w[1].1) && w[0].1 < w[1].1)
}

/// Car sessions on c1 during a fault: `sessions` plug-ins and unplugs, each seen by the
/// sessions (their kept events counted in the view) before the next.
fn drive_sessions(sim: &Simulated, daemon: &mut Daemon, kept_before: u64, sessions: u64) {
    let mut kept = kept_before;
    for _ in 0..sessions {
        for plugged in [true, false] {
            set_plugged(sim, "c1", plugged);
            kept += 1;
            let want = kept;
            daemon.wait_for(&format!("{want} kept events"), |v| {
                storage(v)["unjournaled_events"].as_u64() == Some(want)
            });
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_leaves_the_site_balanced_and_the_journal_resumes_in_order() {
    let mut sim = simulate(SMALL_SITE, [5.0; 3]).await;
    sim.plug_in("c1", 16.0);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state").join("hubgate.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    drop(Store::open(&db).unwrap());
    let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.seek(SeekFrom::Start(4096)).unwrap();
    f.write_all(&[0xA5; 8192]).unwrap();
    drop(f);
    let damaged = std::fs::read(&db).unwrap();
    let config = write_config(&mut sim, dir.path(), &db, StorageFailure::ChargeUnbilled);

    let mut daemon = tokio::task::block_in_place(|| Daemon::start(dir.path(), &config));
    let v = tokio::task::block_in_place(|| {
        daemon.wait_for("balanced, the database unavailable, c1's start kept", |v| {
            balanced(v)
                && storage(v)["available"] == false
                && storage(v)["unjournaled_events"] == 1
                && charger(v, "c1")["setpoint_a"].as_f64() >= Some(6.0)
        })
    });
    assert_eq!(storage(&v)["on_failure"], "charge_unbilled");
    assert!(
        daemon.log().contains("database unavailable"),
        "{}",
        daemon.log()
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        damaged,
        "the damaged file was changed"
    );

    // The first car leaves, two more come and go: each its own session.
    tokio::task::block_in_place(|| {
        set_plugged(&sim, "c1", false);
        daemon.wait_for("the first stop kept", |v| {
            storage(v)["unjournaled_events"] == 2
        });
        drive_sessions(&sim, &mut daemon, 2, 2);
    });

    // The installer moves the damaged file away: a new database, the kept events journaled.
    std::fs::rename(&db, dir.path().join("damaged.db")).unwrap();
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", db.display()));
    }
    tokio::task::block_in_place(|| {
        daemon.wait_for("the journal resumed", |v| {
            v["uplink"].is_null() && balanced(v)
        })
    });
    let txs = transactions(&db);
    assert_eq!(txs.len(), 3, "{txs:?}");
    assert!(txs.iter().all(|t| t.0 == 1 && t.2.is_some()), "{txs:?}");
    assert!(in_order(&txs), "{txs:?}");
    let log = tokio::task::block_in_place(|| daemon.stop());
    assert!(log.contains("kept transaction stop journaled"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_pauses_new_sessions_until_it_can_be_written() {
    if !can_mount() {
        return;
    }
    let mut sim = simulate(SMALL_SITE, [5.0; 3]).await;
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("state"), "8m").expect("tmpfs");
    let db = fs.0.join("hubgate.db");
    drop(Store::open(&db).unwrap());
    fs.remount("ro");
    sim.plug_in("c1", 16.0);
    let config = write_config(&mut sim, dir.path(), &db, StorageFailure::PauseNewSessions);

    let mut daemon = tokio::task::block_in_place(|| Daemon::start(dir.path(), &config));
    tokio::task::block_in_place(|| {
        daemon.wait_for("balanced, the database unavailable, c1 paused", |v| {
            balanced(v)
                && storage(v)["available"] == false
                && storage(v)["on_failure"] == "pause_new_sessions"
                && charger(v, "c1")["setpoint_a"].as_f64() == Some(0.0)
                && charger(v, "c1")["status"] != "Available"
        })
    });
    fs.remount("rw");
    tokio::task::block_in_place(|| {
        daemon.wait_for("c1 charging once the journal works", |v| {
            v["uplink"].is_null() && charger(v, "c1")["setpoint_a"].as_f64() >= Some(6.0)
        })
    });
    let txs = transactions(&db);
    assert_eq!(txs.len(), 1, "{txs:?}");
    assert_eq!((txs[0].0, txs[0].2), (1, None), "{txs:?}");
    tokio::task::block_in_place(|| daemon.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_every_session_and_journals_them_once_there_is_room() {
    if !can_mount() {
        return;
    }
    let mut sim = simulate(SMALL_SITE, [5.0; 3]).await;
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("state"), "4m").expect("tmpfs");
    let db = fs.0.join("hubgate.db");
    drop(Store::open(&db).unwrap());
    let filler = fs.0.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&block[..512]).is_ok() {}
    }
    let config = write_config(&mut sim, dir.path(), &db, StorageFailure::ChargeUnbilled);

    let mut daemon = tokio::task::block_in_place(|| Daemon::start(dir.path(), &config));
    tokio::task::block_in_place(|| {
        daemon.wait_for("balanced, the database unavailable", |v| {
            balanced(v) && storage(v)["available"] == false
        });
        drive_sessions(&sim, &mut daemon, 0, 2);
        set_plugged(&sim, "c1", true);
        daemon.wait_for("the third start kept", |v| {
            storage(v)["unjournaled_events"] == 5
                && charger(v, "c1")["setpoint_a"].as_f64() >= Some(6.0)
        });
    });
    std::fs::remove_file(&filler).unwrap();
    tokio::task::block_in_place(|| {
        daemon.wait_for("the journal resumed", |v| v["uplink"].is_null())
    });
    let txs = transactions(&db);
    assert_eq!(txs.len(), 3, "{txs:?}");
    assert!(txs.iter().all(|t| t.0 == 1), "{txs:?}");
    assert!(
        txs[0].2.is_some() && txs[1].2.is_some() && txs[2].2.is_none(),
        "{txs:?}"
    );
    assert!(in_order(&txs), "{txs:?}");
    tokio::task::block_in_place(|| daemon.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_database_is_refused_and_leaves_the_first_alone() {
    let mut sim = simulate(SMALL_SITE, [5.0; 3]).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state").join("hubgate.db");
    let config = write_config(&mut sim, dir.path(), &db, StorageFailure::PauseNewSessions);
    let mut first = tokio::task::block_in_place(|| Daemon::start(dir.path(), &config));
    tokio::task::block_in_place(|| first.wait_for("the first daemon runs", balanced));

    let out = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .env("RUNTIME_DIRECTORY", &first.runtime)
            .env_remove("NOTIFY_SOCKET")
            .output()
            .unwrap()
    });
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("PID {}", first.child.id())) && err.contains("hubgate.db"),
        "{err}"
    );
    assert!(
        first.runtime.join("hubgate.sock").exists(),
        "the socket was deleted"
    );
    let v = tokio::task::block_in_place(|| first.status()).expect("the first daemon's socket");
    assert!(balanced(&v), "{v}");
    tokio::task::block_in_place(|| first.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_database_is_left_untouched_and_the_site_runs_without_it() {
    let mut sim = simulate(SMALL_SITE, [1.0; 3]).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hubgate.db");
    let foreign = b"SQLite format 3\0 but really somebody else's file".to_vec();
    std::fs::write(&db, &foreign).unwrap();
    let config = write_config(&mut sim, dir.path(), &db, StorageFailure::PauseNewSessions);
    let mut daemon = tokio::task::block_in_place(|| Daemon::start(dir.path(), &config));
    let v = tokio::task::block_in_place(|| {
        daemon.wait_for("balanced, the database refused", |v| {
            balanced(v) && storage(v)["available"] == false
        })
    });
    let fault = storage(&v)["fault"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(fault.contains("hubgate.db"), "{v}");
    let log = tokio::task::block_in_place(|| daemon.stop());
    assert!(log.contains("database unavailable"), "{log}");
    assert_eq!(std::fs::read(&db).unwrap(), foreign, "the file was changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_deleted_while_running_is_noticed_and_the_running_transaction_journaled_again() {
    let mut sim = simulate(SMALL_SITE, [5.0; 3]).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state").join("hubgate.db");
    let config = write_config(&mut sim, dir.path(), &db, StorageFailure::PauseNewSessions);
    let mut daemon = tokio::task::block_in_place(|| Daemon::start(dir.path(), &config));
    sim.plug_in("c1", 16.0);
    let started = tokio::task::block_in_place(|| {
        daemon.wait_for("c1 charging", |v| {
            balanced(v) && charger(v, "c1")["setpoint_a"].as_f64() >= Some(6.0)
        });
        wait_transactions(&db, "c1's transaction journaled", |t| t.len() == 1)[0]
    });

    for side in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", db.display()));
    }
    tokio::task::block_in_place(|| {
        daemon.wait_log("the database file was deleted while in use");
        daemon.wait_log("database available again");
        set_plugged(&sim, "c1", false);
        daemon.wait_log("journaled again");
    });
    let txs = wait_transactions(&db, "the transaction journaled again, stopped", |t| {
        t.len() == 1 && t[0].2.is_some()
    });
    assert_eq!((txs[0].0, txs[0].1), (1, started.1), "{txs:?}");
    tokio::task::block_in_place(|| daemon.stop());
}
