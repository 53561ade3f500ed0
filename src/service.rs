//! Service lifecycle: logging (journald under systemd, text otherwise), sd_notify
//! (READY, STATUS, WATCHDOG tied to the control loop, RELOADING, STOPPING) and signals.

use sd_notify::NotifyState;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Log targets held at `debug` whatever the filter asks: tungstenite traces the raw websocket
/// handshake request, Authorization header included.
pub const REDACTED_TARGETS: &[&str] = &["tungstenite::handshake::client"];

/// The log filter for `level` (a tracing filter such as `info` or `hubgate=trace`), with the
/// targets that would show secrets held below trace.
pub fn log_filter(level: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    let mut filter = EnvFilter::try_new(level)?;
    for target in REDACTED_TARGETS {
        filter = filter.add_directive(format!("{target}=debug").parse()?);
    }
    Ok(filter)
}

/// Lets the log filter be changed after start (a SIGHUP with a new `[log] level`).
pub struct LogControl {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    env_override: bool,
}

impl LogControl {
    /// Apply the config's level, unless `RUST_LOG` was given (it wins).
    pub fn set_level(&self, level: &str) {
        if self.env_override {
            return;
        }
        if let (Some(h), Ok(f)) = (&self.handle, log_filter(level))
            && let Err(e) = h.reload(f)
        {
            tracing::warn!("cannot change the log level: {e}");
        }
    }
}

/// Whether stderr is connected to the journal (systemd sets `JOURNAL_STREAM=dev:inode` for it).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// Set up tracing: to journald when running under systemd, readable text on stderr otherwise.
/// `RUST_LOG` overrides `level`. Call once, early.
pub fn init_logging(level: &str) -> LogControl {
    let env = std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty());
    let filter = log_filter(env.as_deref().unwrap_or(level))
        .or_else(|_| log_filter("info"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let journald = if stderr_is_journal() {
        tracing_journald::layer().ok()
    } else {
        None
    };
    let installed = match journald {
        Some(j) => registry.with(j).try_init().is_ok(),
        None => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()
            .is_ok(),
    };
    LogControl {
        handle: installed.then_some(handle),
        env_override: env.is_some(),
    }
}

/// Messages to the service manager. Every call is a no-op when not started by systemd.
#[derive(Debug, Clone, Copy, Default)]
pub struct Notifier;

impl Notifier {
    fn send(&self, states: &[NotifyState]) {
        if let Err(e) = sd_notify::notify(states) {
            tracing::warn!("sd_notify failed: {e}");
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// The watchdog interval systemd asked for (`WatchdogSec=`), if any.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        sd_notify::watchdog_enabled()
    }
}

/// Proof of life from the control loop: its cycle counter.
pub type Heartbeat = watch::Receiver<u64>;

/// Pet the systemd watchdog only while the control loop completes cycles that drive every
/// charger: every half interval, `WATCHDOG=1` is sent if the loop's counter moved since the last
/// check. The loop stops moving it when it stalls, or when a charger can no longer be driven (its
/// task down beyond the bound, or gone: see [`crate::device::supervise`]); the pings stop and
/// systemd restarts the service. Returns when the heartbeat sender is dropped.
pub async fn watchdog(notifier: Notifier, interval: Duration, mut heartbeat: Heartbeat) {
    let mut tick = tokio::time::interval(interval / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match heartbeat.has_changed() {
            Ok(true) => {
                heartbeat.mark_unchanged();
                notifier.watchdog();
            }
            Ok(false) => {
                tracing::warn!(
                    "control loop made no progress or cannot drive a charger: withholding the watchdog ping"
                )
            }
            Err(_) => return,
        }
    }
}

/// What the process was asked to do from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGHUP: re-read and apply the config.
    Reload,
    /// SIGTERM / SIGINT: drain and exit.
    Shutdown,
}

/// SIGTERM, SIGINT and SIGHUP as a stream of [`Request`]s.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Shutdown,
            _ = self.int.recv() => Request::Shutdown,
            _ = self.hup.recv() => Request::Reload,
        }
    }
}
