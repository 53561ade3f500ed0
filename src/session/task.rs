//! The sessions task: owns the connector machines and the OCPP uplink, runs a cycle per control
//! period over the chargers' states, and carries out the CSMS's commands.

use super::connector::{Connector, Now, Rules};
use super::energy::EnergyRegister;
use super::observe::LOST_AFTER_FAILURES;
use super::tariff::Tariff;
use super::unjournaled::Unjournaled;
use crate::config::{SiteConfig, StorageFailure};
use crate::limits::ExternalLimits;
use crate::ocpp::chargepoint::{ChargingLimits, SiteCommand, SiteEvent};
use crate::ocpp::keys::Configuration;
use crate::ocpp::link::LinkConfig;
use crate::ocpp::messages::CiString20;
use crate::site::ChargerLink;
use crate::store::{StoreHealth, WriterHandle};
use crate::uplink::{Db, LinkThread};
use crate::view::SiteView;
use chrono::{Local, TimeDelta, Utc};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

/// Why the sessions could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Uplink(#[from] crate::ocpp::link::LinkError),
}

/// What the sessions work with.
pub struct SessionConfig {
    pub site: Arc<SiteConfig>,
    /// From [`crate::site::SiteRuntime::chargers`].
    pub chargers: Vec<ChargerLink>,
    pub writer: WriterHandle,
    /// The database file the writer holds (read next to it).
    pub db_path: PathBuf,
    /// The OCPP source of the limits is set here.
    pub limits: watch::Sender<ExternalLimits>,
    /// The uplink part of the site view is set here.
    pub view: watch::Sender<SiteView>,
    /// A hard reset asks the daemon, through this, to restart the site; without it a hard reset
    /// is carried out as a soft one.
    pub restart: Option<mpsc::Sender<()>>,
}

/// The running sessions.
#[derive(Debug)]
pub struct Sessions {
    /// idTags presented at a connector by a reader of the site (a payment terminal, the demo's
    /// drivers): `(connector, idTag)`.
    pub reader: mpsc::Sender<(u32, String)>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Sessions {
    /// Recover the journal's open transactions, connect the CSMS (when `[ocpp]` is configured)
    /// and follow the chargers.
    pub fn start(cfg: SessionConfig) -> Result<Sessions, SessionError> {
        let link = crate::ocpp::site::link_config(&cfg.site)?;
        let hub = Hub::new(cfg, link)?;
        // Fail closed until the first cycle: where charging needs a session, nothing delivers.
        if hub.rules.requires_auth || hub.rules.free_vend.is_some() {
            let all = hub.slots.iter().map(|s| s.charger.name.clone()).collect();
            hub.limits.send_modify(|l| l.ocpp.paused = all);
        }
        let (reader, reader_rx) = mpsc::channel(16);
        let (stop, stop_rx) = oneshot::channel();
        let span = tracing::info_span!("sessions");
        let task = tokio::spawn(run(hub, stop_rx, reader_rx).instrument(span));
        Ok(Sessions { reader, stop, task })
    }

    /// The task ended by itself (it panicked): the daemon pauses what needs it and restarts it.
    pub fn ended(&self) -> bool {
        self.task.is_finished()
    }

    /// Stop following the chargers and close the uplink. Running transactions stay open in the
    /// journal: the next start resumes or closes them.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!("the sessions task failed: {e}");
        }
    }
}

/// Cache entries kept at most.
pub(super) const CACHE_MAX: usize = 10_000;
/// The running transactions' registers are journaled this often, together (for restart
/// recovery).
pub(super) const JOURNAL_EVERY: Duration = Duration::from_secs(30);
/// Settings key set on a clean stop and cleared at start.
pub(super) const CLEAN_STOP_KEY: &str = "sessions.clean_stop";

/// One connector with its charger.
pub(super) struct Slot {
    pub charger: ChargerLink,
    pub machine: Connector,
    pub register: EnergyRegister,
    pub saved_base: Option<f64>,
    /// Observed at least once.
    pub observed: bool,
    /// The status last sent to the CSMS.
    pub sent: Option<super::connector::Status>,
    pub journaled: (Instant, f64),
    /// Starts and stops waiting for the journal.
    pub kept: Unjournaled,
}

/// Everything the task owns.
pub(super) struct Hub {
    pub site: Arc<SiteConfig>,
    pub slots: Vec<Slot>,
    pub writer: WriterHandle,
    pub db: Db,
    /// The charge point's configuration keys, as the CSMS set them (behind a lock only so the
    /// task's futures may move between threads).
    keys: std::sync::Mutex<Configuration>,
    pub link_config: Option<LinkConfig>,
    pub link: Option<LinkThread>,
    pub limits: watch::Sender<ExternalLimits>,
    pub view: watch::Sender<SiteView>,
    pub restart: Option<mpsc::Sender<()>>,
    pub rules: Rules,
    pub tariff: Option<Tariff>,
    pub charging: Option<ChargingLimits>,
    /// Ids sent to the CSMS, by slot.
    pub asking: Vec<(usize, CiString20)>,
    pub site_operative: bool,
    pub status0_sent: bool,
    pub backlog: (u64, Option<i64>),
    pub backlog_at: Option<Instant>,
    pub maintained_at: Instant,
    /// `[storage] on_failure`.
    pub on_failure: StorageFailure,
    /// The database as last seen.
    pub storage: StoreHealth,
    /// When the running transactions' registers were last journaled.
    pub registers_at: Instant,
    /// The journal's open transactions could not be read at start: they are closed once the
    /// database can be read.
    pub recovery_pending: bool,
}

impl Hub {
    fn new(cfg: SessionConfig, link_config: Option<LinkConfig>) -> Result<Hub, SessionError> {
        let db = Db::open(&cfg.db_path, cfg.writer.clone())?;
        let keys = crate::uplink::link::configuration(&cfg.site, db.clone());
        let free_vend = cfg
            .site
            .auth
            .free_vend_id_tag
            .as_deref()
            .map(CiString20::truncated);
        let rules = Rules {
            requires_auth: link_config.is_some(),
            free_vend,
            connection_timeout: TimeDelta::seconds(60),
            min_current_a: crate::config::IEC_MIN_CURRENT_A,
            hold_new_sessions: false,
        };
        let slots = cfg
            .chargers
            .into_iter()
            .map(|charger| Slot {
                machine: Connector::new(charger.connector, true),
                register: EnergyRegister::new(0.0, None),
                saved_base: None,
                observed: false,
                sent: None,
                journaled: (Instant::now(), 0.0),
                kept: Unjournaled::new(charger.connector),
                charger,
            })
            .collect();
        Ok(Hub {
            on_failure: cfg.site.storage.on_failure,
            storage: cfg.writer.health().borrow().clone(),
            tariff: cfg.site.tariff.as_ref().map(Tariff::from_config),
            site: cfg.site,
            slots,
            writer: cfg.writer,
            db,
            keys: std::sync::Mutex::new(keys),
            link_config,
            link: None,
            limits: cfg.limits,
            view: cfg.view,
            restart: cfg.restart,
            rules,
            charging: None,
            asking: Vec::new(),
            site_operative: true,
            status0_sent: false,
            backlog: (0, None),
            backlog_at: None,
            maintained_at: Instant::now(),
            registers_at: Instant::now(),
            recovery_pending: false,
        })
    }

    pub fn now() -> Now {
        Now {
            utc: Utc::now(),
            local: Local::now().naive_local(),
            mono: crate::clock::Mono::now(),
        }
    }

    pub fn slot_of(&self, connector: u32) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.charger.connector == connector)
    }

    /// Send an event to the charge point, if there is one.
    pub async fn send(&self, event: SiteEvent) {
        if let Some(link) = &self.link
            && link.handle.events.send(event).await.is_err()
        {
            tracing::warn!("the OCPP session is gone");
        }
    }

    /// Send an event that a later one replaces (meter readings): dropped if the session is busy.
    pub fn offer(&self, event: SiteEvent) {
        if let Some(link) = &self.link {
            let _ = link.handle.events.try_send(event);
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Configuration> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A boolean configuration key.
    pub fn flag(&self, key: &str) -> bool {
        self.keys().flag(key)
    }

    /// An integer configuration key.
    pub fn int(&self, key: &str) -> u32 {
        self.keys().int(key)
    }

    /// The keys that change how sessions run, as the CSMS set them.
    pub fn refresh_rules(&mut self) {
        let timeout = i64::from(self.int("ConnectionTimeOut"));
        self.rules.connection_timeout = TimeDelta::seconds(timeout.max(1));
    }

    /// Start the charge point session, with the transactions that run.
    pub fn start_link(&mut self) {
        let Some(link) = self.link_config.clone() else {
            return;
        };
        let resumed: Vec<crate::uplink::Resumed> = self
            .slots
            .iter()
            .filter_map(|s| {
                s.machine.tx().map(|tx| crate::uplink::Resumed {
                    connector: s.charger.connector,
                    local: tx.local,
                    started: tx.started,
                })
            })
            .collect();
        let unlockable = self
            .slots
            .iter()
            .filter(|s| s.charger.unlockable)
            .map(|s| s.charger.connector)
            .collect();
        let cp = crate::uplink::charge_point(
            &self.site,
            self.db.clone(),
            unlockable,
            &resumed,
            crate::clock::Moment::now(),
        );
        self.charging = Some(cp.charging_limits());
        match LinkThread::start(link, cp) {
            Ok(l) => self.link = Some(l),
            Err(e) => tracing::error!("the OCPP uplink did not start: {e}"),
        }
        for s in &mut self.slots {
            s.sent = None;
        }
        self.status0_sent = false;
    }

    /// Stop the charge point session and start a fresh one (BootNotification again).
    pub async fn restart_link(&mut self) {
        if let Some(l) = self.link.take() {
            l.stop().await;
        }
        self.asking.clear();
        self.start_link();
    }
}

async fn next_command(link: &mut Option<LinkThread>) -> Option<SiteCommand> {
    match link {
        Some(l) => l.handle.commands.recv().await,
        None => std::future::pending().await,
    }
}

async fn run(
    mut hub: Hub,
    mut stop: oneshot::Receiver<()>,
    mut reader: mpsc::Receiver<(u32, String)>,
) {
    hub.recover().await;
    hub.start_link();
    let period = Duration::from_millis(hub.site.control.cycle_ms.max(50));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                injected_fault();
                hub.cycle().await
            }
            Some((connector, tag)) = reader.recv() => hub.presented(connector, &tag).await,
            cmd = next_command(&mut hub.link) => match cmd {
                Some(c) => hub.command(c).await,
                None => {
                    tracing::error!("the OCPP session ended; starting it again");
                    hub.restart_link().await;
                }
            },
        }
    }
    let now = crate::uplink::db::millis(Utc::now());
    if let Err(e) = hub.writer.set_setting(CLEAN_STOP_KEY, "true", now).await {
        tracing::warn!("clean stop not recorded: {e}");
    }
    if let Some(l) = hub.link.take() {
        l.stop().await;
    }
}

/// Fault injection for the daemon's supervision tests, in debug builds only: the task panics
/// while the file that `HUBGATE_FAULT_SESSIONS_PANIC` names exists.
#[cfg(debug_assertions)]
fn injected_fault() {
    if let Some(path) = std::env::var_os("HUBGATE_FAULT_SESSIONS_PANIC")
        && std::path::Path::new(&path).exists()
    {
        panic!(
            "injected fault: {} exists",
            std::path::Path::new(&path).display()
        );
    }
}

#[cfg(not(debug_assertions))]
fn injected_fault() {}

/// Wait (bounded) until every charger was polled once, so recovery sees what they do.
pub(super) async fn first_polls(slots: &[Slot], limit: Duration) {
    let waits = slots.iter().map(|s| {
        let mut rx = s.charger.state.clone();
        async move {
            let _ = rx
                .wait_for(|st| st.read_at.is_some() || st.failures >= LOST_AFTER_FAILURES)
                .await;
        }
    });
    let all = futures_util::future::join_all(waits);
    if tokio::time::timeout(limit, all).await.is_err() {
        tracing::warn!("some chargers did not answer within {limit:?}");
    }
}
