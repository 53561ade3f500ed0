//! Disk write rate of `hubgate run` in steady state: 50 simulated chargers over Modbus TCP (five
//! gateways of ten), every car charging, a 1 s control cycle, no CSMS. After a warm-up (every
//! transaction started, the history's first minute written) the daemon's `write_bytes` from
//! `/proc/PID/io` and its fsync/fdatasync calls (counted by `strace -c`) are measured over a
//! window. The database lives under `target/`, on the disk (on a tmpfs `write_bytes` stays 0).
//!
//! Run: `cargo bench --bench write_rate` (~3 minutes; needs `strace` and ptrace rights, else
//! only the bytes are measured). `WRITE_RATE_WINDOW_S` sets the window (default 120).

use hubgate::config::EnvSource;
use hubgate::phase::PerPhase;
use hubgate::sim::load::LoadProfile;
use hubgate::sim::model::Car;
use hubgate::sim::serve::{Ports, lock, run_clock, serve};
use hubgate::sim::world::{SimOptions, SimWorld};
use hubgate::site::load_site_str;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CHARGERS: usize = 50;
const WARM_UP: Duration = Duration::from_secs(75);

fn config() -> String {
    let mut s = String::from(
        "[site]\nid = \"bench\"\nname = \"Write rate bench\"\ngrid_limit_a = 400\ngrid_meter = \"grid\"\nsafety_margin_a = 2\nfallback_current_a = 0\n\n[control]\ncycle_ms = 1000\nramp_up_a_per_s = 8\n\n[[buses]]\nname = \"meters\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n\n[[meters]]\nname = \"grid\"\ndriver = \"eastron-sdm630\"\nbus = \"meters\"\nunit = 1\n",
    );
    for g in 0..CHARGERS / 10 {
        let _ = write!(
            s,
            "\n[[buses]]\nname = \"gw{g}\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n"
        );
    }
    for i in 0..CHARGERS {
        let _ = write!(
            s,
            "\n[[chargers]]\nname = \"c{i}\"\ndriver = \"abb-terra-ac\"\nbus = \"gw{}\"\nunit = {}\nmax_current_a = 16\nconnector = {}\n",
            i / 10,
            i % 10 + 1,
            i + 1
        );
    }
    s
}

fn write_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `strace -c` summary lines of fsync and fdatasync: their call counts, summed.
fn syncs(summary: &str) -> Option<u64> {
    let calls: Vec<u64> = summary
        .lines()
        .filter(|l| l.ends_with(" fsync") || l.ends_with(" fdatasync"))
        .filter_map(|l| l.split_whitespace().nth(3).and_then(|c| c.parse().ok()))
        .collect();
    (!summary.is_empty()).then(|| calls.iter().sum())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list
    }
    let window = Duration::from_secs(
        std::env::var("WRITE_RATE_WINDOW_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(120),
    );
    let site = load_site_str(
        &config(),
        Path::new("bench.toml"),
        &EnvSource::Map(Default::default()),
    )
    .expect("config");
    let mut config = site.loaded.config;
    let options = SimOptions {
        traffic: None,
        building: Some(LoadProfile::constant(PerPhase([20.0, 20.0, 20.0]))),
        ..SimOptions::default()
    };
    let world = Arc::new(Mutex::new(
        SimWorld::from_config(&config, &site.registry, options).expect("world"),
    ));
    for c in &mut lock(&world).site.chargers {
        c.plug_in(Car {
            max_current_a: 32.0,
            phases: 3,
            wants_wh: 1e12,
            id_tag: "X".into(),
        });
    }
    let servers = serve(Arc::clone(&world), &config, Ports::Free)
        .await
        .expect("serve");
    servers.rewrite(&mut config);
    let _clock = run_clock(Arc::clone(&world), Duration::from_millis(50));

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/write-rate");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    config.storage.database = Some(dir.join("hubgate.db"));
    let config_path = dir.join("site.toml");
    std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("config");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .args(["run", "--config"])
        .arg(&config_path)
        .env("RUNTIME_DIRECTORY", &dir)
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hubgate run");
    let pid = daemon.id();
    tokio::time::sleep(WARM_UP).await;

    let trace = dir.join("strace.txt");
    let strace = Command::new("strace")
        .args(["-f", "-c", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .args(["-p", &pid.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .ok();
    let before = write_bytes(pid);
    tokio::time::sleep(window).await;
    let after = write_bytes(pid);
    if let Some(s) = &strace {
        let _ = Command::new("kill")
            .args(["-INT", &s.id().to_string()])
            .status();
    }
    if let Some(mut s) = strace {
        let _ = s.wait();
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = daemon.wait();

    let secs = window.as_secs_f64();
    let bytes = after.saturating_sub(before);
    println!(
        "{CHARGERS} chargers charging, window {secs:.0} s: {bytes} bytes written = {:.2} KB/s",
        bytes as f64 / secs / 1000.0
    );
    match syncs(&std::fs::read_to_string(&trace).unwrap_or_default()) {
        Some(n) => println!("fsync + fdatasync: {n} = {:.3} /s", n as f64 / secs),
        None => println!("fsyncs not counted (no strace, or no ptrace rights)"),
    }
}
