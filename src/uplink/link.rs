//! The site's OCPP charge point over the store, run on a thread of its own: its stores wait for
//! disk commits, and nothing else should wait with them.

use super::UplinkError;
use super::db::Db;
use super::outbox::StoreOutbox;
use super::stores::{StoreConfig, StoreLocalList};
use crate::clock::Moment;
use crate::config::SiteConfig;
use crate::ocpp::chargepoint::ChargePoint;
use crate::ocpp::keys::Configuration;
use crate::ocpp::link::{LinkConfig, OcppHandle, prepare};
use crate::ocpp::outbox::LocalTxId;
use crate::ocpp::profiles::ProfileStore;
use crate::store::settings;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// The settings key of the installed charging profiles (JSON).
pub const PROFILES_KEY: &str = "ocpp.charging_profiles";

/// A transaction that goes on after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resumed {
    pub connector: u32,
    pub local: LocalTxId,
    pub started: DateTime<Utc>,
}

/// The OCPP keys `[auth]` seeds (until the CSMS changes them).
pub fn auth_defaults(cfg: &SiteConfig) -> BTreeMap<String, String> {
    let a = &cfg.auth;
    [
        ("LocalAuthorizeOffline", a.local_authorize_offline),
        ("LocalPreAuthorize", a.local_pre_authorize),
        (
            "AllowOfflineTxForUnknownId",
            a.allow_offline_tx_for_unknown_id,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The configuration keys over the store.
pub fn configuration(cfg: &SiteConfig, db: Db) -> Configuration {
    let phase_rotation = crate::ocpp::site::phase_rotation(cfg);
    Configuration::new(
        Box::new(StoreConfig::new(db, auth_defaults(cfg))),
        u32::try_from(cfg.chargers.len()).unwrap_or(0),
        &phase_rotation,
    )
}

/// The site's charge point over the store, with its saved charging profiles and the
/// transactions that go on.
pub fn charge_point(
    cfg: &SiteConfig,
    db: Db,
    unlockable: BTreeSet<u32>,
    resumed: &[Resumed],
    now: Moment,
) -> ChargePoint {
    let setup = crate::ocpp::site::setup(cfg, unlockable);
    let saved = db
        .read(|c| settings::get(c, PROFILES_KEY))
        .ok()
        .flatten()
        .and_then(|json| match serde_json::from_str::<ProfileStore>(&json) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!("saved charging profiles not usable: {e}");
                None
            }
        });
    let mut cp = ChargePoint::new(
        setup,
        configuration(cfg, db.clone()),
        Box::new(StoreOutbox::new(db.clone())),
        Box::new(StoreLocalList::new(db)),
        now,
    );
    if let Some(p) = saved {
        cp = cp.with_profiles(p);
    }
    for r in resumed {
        cp.resume_transaction(r.connector, r.local, r.started, now);
    }
    cp
}

/// A charge point session running on its own thread.
#[derive(Debug)]
pub struct LinkThread {
    pub handle: OcppHandle,
    thread: std::thread::JoinHandle<()>,
}

impl LinkThread {
    /// Start the session of `cp` with the CSMS at `link`.
    pub fn start(link: LinkConfig, cp: ChargePoint) -> Result<LinkThread, UplinkError> {
        let (handle, session) = prepare(link, cp);
        let thread = std::thread::Builder::new()
            .name("hubgate-ocpp".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(session),
                    Err(e) => tracing::error!("the OCPP session cannot run: {e}"),
                }
            })
            .map_err(UplinkError::Thread)?;
        Ok(LinkThread { handle, thread })
    }

    /// End the session (the websocket is closed) and wait for its thread.
    pub async fn stop(self) {
        let LinkThread { handle, thread } = self;
        drop(handle);
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::error!("the OCPP session thread ended badly");
        }
    }
}
