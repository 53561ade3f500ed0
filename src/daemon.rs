//! `hubgate run`: the daemon as systemd runs it.
//!
//! Start: load and check the config (a bad config exits non-zero with every problem), take the
//! single-instance lock beside the database (a second daemon on the same database exits
//! non-zero naming the first one's PID, and touches nothing of it), start the database's
//! supervised writer, start the site, serve the status socket, tell systemd READY=1. The site
//! never waits for the database: one that cannot be opened or written is retried in the
//! background while load management runs (see [`crate::store::supervise`]). Then:
//! - the watchdog is pinged only while the control loop cycles;
//! - SIGHUP re-reads the config: a config with problems is reported and the running one kept; a
//!   good one replaces the running site;
//! - SIGTERM/SIGINT: STOPPING=1, the site is stopped cleanly, exit 0.

use crate::config::{EnvSource, SiteConfig};
use crate::control::ExternalLimits;
use crate::driver::Registry;
use crate::limits::SourceLimits;
use crate::mqtt::MqttTask;
use crate::service::{Notifier, Request, Signals, init_logging, watchdog};
use crate::session::{SessionConfig, Sessions};
use crate::site::{SiteChannels, SiteLoadError, SiteRuntime, StartError, load_site};
use crate::status;
use crate::store::lock::LockError;
use crate::store::{Store, StoreError, StoreWriter, SuperviseOptions, WriterHandle};
use crate::view::SiteView;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

/// Why the daemon could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Load(#[from] SiteLoadError),
    #[error("{0}")]
    Start(#[from] StartError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Lock(#[from] LockError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What stays up across reloads.
struct Shared {
    view: watch::Sender<SiteView>,
    heartbeat: watch::Sender<u64>,
    limits: watch::Receiver<ExternalLimits>,
    limits_tx: watch::Sender<ExternalLimits>,
    writer: WriterHandle,
    db_path: PathBuf,
    /// A hard reset from the CSMS asks for a restart of the site here.
    restart: mpsc::Sender<()>,
}

/// Runs the daemon with the config at `path` until SIGTERM/SIGINT.
pub async fn run(path: PathBuf) -> Result<(), DaemonError> {
    let site = load_site(&path, &EnvSource::Process)?;
    let log = init_logging(&site.loaded.config.log.level);
    let notifier = Notifier;
    let config = Arc::new(site.loaded.config);
    info!(config = %path.display(), "{}", config.summary());
    for (key, var) in &site.loaded.env_overrides {
        info!(key = %key, variable = %var, "set from the environment");
    }

    let db_path = config.database_path();
    let _lock = crate::store::lock::acquire(&db_path, std::process::id())?;
    let writer = crate::store::supervise(db_path.clone(), supervise_options(&config))?;

    let (view_tx, view_rx) = watch::channel(SiteView::default());
    let (heartbeat_tx, heartbeat_rx) = watch::channel(0u64);
    let (limits_tx, limits_rx) = watch::channel(ExternalLimits::default());
    let (restart_tx, mut restart_rx) = mpsc::channel(1);
    let shared = Shared {
        view: view_tx,
        heartbeat: heartbeat_tx,
        limits: limits_rx,
        limits_tx: limits_tx.clone(),
        writer: writer.clone(),
        db_path: db_path.clone(),
        restart: restart_tx,
    };

    let socket = status::default_socket_path(std::env::var("RUNTIME_DIRECTORY").ok().as_deref());
    let status_task = {
        let socket = socket.clone();
        tokio::spawn(async move {
            if let Err(e) = status::serve(&socket, view_rx).await {
                warn!(socket = %socket.display(), error = %e, "status socket unavailable");
            }
        })
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let recorder = crate::recorder::spawn(
        shared.view.subscribe(),
        writer.clone(),
        std::time::Duration::from_secs(60),
        crate::recorder::retention(&config.storage),
        stop_rx,
    );
    let mut signals = Signals::install()?;
    let mut runtime = start(&config, &site.registry, &shared)?;
    let mut sessions = start_sessions(&config, &runtime, &shared);
    let mut mqtt = start_mqtt(&config, &shared, &limits_tx);
    if let Some(interval) = notifier.watchdog_interval() {
        tokio::spawn(watchdog(notifier, interval, heartbeat_rx));
    }
    notifier.ready(&config.summary());
    let mut current = config;
    // Sessions that charging needs and that could not start are retried (chargers stay paused).
    let mut retry =
        tokio::time::interval_at(tokio::time::Instant::now() + SESSIONS_RETRY, SESSIONS_RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A sessions task that ends by itself (a panic) is noticed within a second.
    let mut watch_sessions = tokio::time::interval(SESSIONS_WATCH);
    watch_sessions.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sessions_died = false;

    loop {
        let request = tokio::select! {
            r = signals.next() => r,
            _ = watch_sessions.tick() => {
                if sessions.as_ref().is_some_and(Sessions::ended) {
                    if let Some(s) = sessions.take() {
                        s.stop().await; // logs how it failed
                    }
                    sessions_died = true;
                    hold_chargers(&current, &shared, "the sessions task failed");
                }
                continue;
            }
            _ = retry.tick(), if sessions.is_none()
                && (sessions_died || held_chargers(&current).is_some()) => {
                sessions = start_sessions(&current, &runtime, &shared);
                if sessions.is_some() {
                    info!("sessions started: the chargers follow their sessions again");
                }
                continue;
            }
            Some(()) = restart_rx.recv() => {
                // A hard reset from the CSMS: the site and its sessions start afresh.
                info!("restarting the site (hard reset)");
                stop_sessions(sessions.take()).await;
                runtime.stop().await;
                runtime = start(&current, &site.registry, &shared)?;
                sessions = start_sessions(&current, &runtime, &shared);
                continue;
            }
        };
        match request {
            Request::Shutdown => break,
            Request::Reload => {
                notifier.reloading();
                stop_sessions(sessions.take()).await;
                match reload(&path, &current, runtime, &shared).await {
                    (next_runtime, Ok(next)) => {
                        log.set_level(&next.log.level);
                        if next.mqtt != current.mqtt
                            || next.site != current.site
                            || next.chargers != current.chargers
                        {
                            if let Some(m) = mqtt.take() {
                                m.stop().await;
                            }
                            mqtt = start_mqtt(&next, &shared, &limits_tx);
                        }
                        runtime = next_runtime;
                        current = next;
                        sessions = start_sessions(&current, &runtime, &shared);
                        notifier.ready(&current.summary());
                    }
                    (old_runtime, Err(message)) => {
                        runtime = old_runtime;
                        sessions = start_sessions(&current, &runtime, &shared);
                        notifier.ready(&format!(
                            "config reload failed, running the previous one: {message}"
                        ));
                    }
                }
            }
        }
    }

    info!("stopping");
    notifier.stopping();
    stop_sessions(sessions).await;
    runtime.stop().await;
    if let Some(m) = mqtt {
        m.stop().await;
    }
    status_task.abort();
    let _ = stop_tx.send(true);
    let _ = recorder.await;
    if let Err(e) = writer.shutdown().await {
        warn!(error = %e, "database not closed cleanly");
    }
    let _ = std::fs::remove_file(&socket);
    info!("stopped");
    Ok(())
}

/// How the daemon's writer retries the database.
fn supervise_options(config: &SiteConfig) -> SuperviseOptions {
    let max = Duration::from_secs(u64::from(config.storage.reopen_max_s.max(1)));
    SuperviseOptions {
        retry_max: max,
        retry_min: Duration::from_secs(1).min(max),
        ..SuperviseOptions::default()
    }
}

/// Opens (creating or migrating) the database and starts its writer. A foreign or damaged file is
/// refused and left untouched.
pub fn open_store(path: &Path) -> Result<WriterHandle, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
    }
    StoreWriter::spawn(Store::open(path)?)
}

/// How often the daemon looks whether the sessions task still runs.
const SESSIONS_WATCH: Duration = Duration::from_secs(1);

/// How often sessions that failed to start are tried again.
const SESSIONS_RETRY: Duration = Duration::from_secs(10);

/// The chargers to hold paused while the sessions are not running, when charging needs them:
/// with `[ocpp]` every charge is authorized and journaled, with free vend every one journaled.
/// `None`: the site charges without sessions.
fn held_chargers(config: &SiteConfig) -> Option<BTreeSet<String>> {
    (config.ocpp.is_some() || config.auth.free_vend_id_tag.is_some())
        .then(|| config.chargers.iter().map(|c| c.name.clone()).collect())
}

/// The sessions (and the OCPP uplink, when configured) of a running site. When they cannot
/// start and charging needs them, every charger is paused (fail closed: no unauthorized,
/// unrecorded charging) and the start is retried; otherwise the problem is logged and the site
/// runs without them.
fn start_sessions(
    config: &Arc<SiteConfig>,
    runtime: &SiteRuntime,
    shared: &Shared,
) -> Option<Sessions> {
    let cfg = SessionConfig {
        site: Arc::clone(config),
        chargers: runtime.chargers().to_vec(),
        writer: shared.writer.clone(),
        db_path: shared.db_path.clone(),
        limits: shared.limits_tx.clone(),
        view: shared.view.clone(),
        restart: Some(shared.restart.clone()),
    };
    match Sessions::start(cfg) {
        Ok(s) => Some(s),
        Err(e) => {
            hold_chargers(config, shared, &format!("sessions not started: {e}"));
            None
        }
    }
}

/// The sessions are not running (`why`): when charging needs them, every charger is paused
/// until they run again (fail closed: no charging without authorization and a recorded
/// transaction); otherwise the site charges on, unrecorded.
fn hold_chargers(config: &SiteConfig, shared: &Shared, why: &str) {
    match held_chargers(config) {
        Some(paused) => {
            let n = paused.len();
            shared.limits_tx.send_modify(|l| {
                l.ocpp = SourceLimits {
                    paused,
                    ..SourceLimits::default()
                }
            });
            error!(
                paused = n,
                retry_s = SESSIONS_RETRY.as_secs(),
                "{why}: every charger is paused until the sessions run \
                 (no charging without authorization and a recorded transaction)"
            );
        }
        None => error!(
            retry_s = SESSIONS_RETRY.as_secs(),
            "{why}: no transactions are recorded until the sessions run"
        ),
    }
}

async fn stop_sessions(sessions: Option<Sessions>) {
    if let Some(s) = sessions {
        s.stop().await;
    }
}

/// MQTT, when configured; a problem with it is logged and the site runs without it.
fn start_mqtt(
    config: &SiteConfig,
    shared: &Shared,
    limits: &watch::Sender<ExternalLimits>,
) -> Option<MqttTask> {
    match MqttTask::start(config, shared.view.subscribe(), limits.clone()) {
        Ok(task) => task,
        Err(e) => {
            error!(error = %e, "MQTT not started");
            None
        }
    }
}

fn start(
    config: &Arc<SiteConfig>,
    registry: &Registry,
    shared: &Shared,
) -> Result<SiteRuntime, StartError> {
    SiteRuntime::start(
        Arc::clone(config),
        registry,
        SiteChannels {
            view: shared.view.clone(),
            heartbeat: shared.heartbeat.clone(),
            limits: shared.limits.clone(),
            records: None,
        },
    )
}

/// Re-reads the config. On any problem the running site is kept and the problem returned.
async fn reload(
    path: &Path,
    current: &Arc<SiteConfig>,
    runtime: SiteRuntime,
    shared: &Shared,
) -> (SiteRuntime, Result<Arc<SiteConfig>, String>) {
    let site = match load_site(path, &EnvSource::Process) {
        Ok(site) => site,
        Err(e) => {
            let problems = match &e {
                SiteLoadError::Config(c) => c.problems().iter().map(|p| p.to_string()).collect(),
                other => vec![other.to_string()],
            };
            for p in &problems {
                error!(config = %path.display(), "reload refused: {p}");
            }
            return (
                runtime,
                Err(format!(
                    "{} problem(s), first: {}",
                    problems.len(),
                    problems.first().cloned().unwrap_or_default()
                )),
            );
        }
    };
    let next = Arc::new(site.loaded.config);
    if next.storage != current.storage {
        warn!("[storage] changes take effect at the next restart");
    }
    runtime.stop().await;
    match start(&next, &site.registry, shared) {
        Ok(rt) => {
            info!("config reloaded: {}", next.summary());
            (rt, Ok(next))
        }
        Err(e) => {
            error!(error = %e, "the new config could not be started; restarting the previous one");
            match start(current, &site.registry, shared) {
                Ok(rt) => (rt, Err(e.to_string())),
                Err(e2) => {
                    // Both failed: nothing sensible is left to run. Exit so systemd restarts us.
                    error!(error = %e2, "the previous config cannot be restarted either");
                    std::process::exit(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> SiteConfig {
        let text = format!(
            "[site]\nid = \"t\"\nname = \"T\"\ngrid_limit_a = 40\n\
             [[chargers]]\nname = \"a\"\ndriver = \"d\"\nbus = \"b\"\nunit = 1\nmax_current_a = 16\nconnector = 1\n\
             [[chargers]]\nname = \"b\"\ndriver = \"d\"\nbus = \"b\"\nunit = 2\nmax_current_a = 16\nconnector = 2\n{extra}"
        );
        toml::from_str(&text).expect("a config")
    }

    #[test]
    fn chargers_are_held_when_charging_needs_the_sessions() {
        let all = Some(BTreeSet::from(["a".to_string(), "b".to_string()]));
        let ocpp = "[ocpp]\ncsms_url = \"ws://127.0.0.1:9/ocpp\"\nsecurity_profile = 0\n";
        assert_eq!(held_chargers(&config(ocpp)), all);
        assert_eq!(
            held_chargers(&config("[auth]\nfree_vend_id_tag = \"FREE\"\n")),
            all
        );
        assert_eq!(held_chargers(&config("")), None);
    }
}
