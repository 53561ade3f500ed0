//! The charge point's configuration keys and local authorization list, kept in the store.

use super::conv::{to_ocpp, to_store};
use super::db::{Db, millis};
use crate::ocpp::keys::{ConfigStore, ConfigStoreError};
use crate::ocpp::local_list::LocalList;
use crate::ocpp::messages::{IdTagInfo, SendLocalList, UpdateStatus, UpdateType};
use crate::store::auth::{self, ListEntry, ListOutcome, ListUpdate};
use crate::store::settings;
use std::collections::BTreeMap;

/// Configuration keys in the settings table, under their OCPP names; keys never changed by
/// the CSMS take the site's defaults (from `[auth]`), then the catalogue's.
#[derive(Debug)]
pub struct StoreConfig {
    db: Db,
    defaults: BTreeMap<String, String>,
}

impl StoreConfig {
    pub fn new(db: Db, defaults: BTreeMap<String, String>) -> StoreConfig {
        StoreConfig { db, defaults }
    }
}

impl ConfigStore for StoreConfig {
    fn get(&self, key: &str) -> Option<String> {
        let key_owned = key.to_string();
        match self.db.read(|c| settings::get(c, &key_owned)) {
            Ok(Some(v)) => Some(v),
            Ok(None) => self.defaults.get(key).cloned(),
            Err(e) => {
                tracing::warn!(key, "configuration key not read: {e}");
                self.defaults.get(key).cloned()
            }
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigStoreError> {
        let (key, value) = (key.to_string(), value.to_string());
        let now = millis(chrono::Utc::now());
        self.db
            .write(move |c| settings::set(c, &key, &value, now))
            .map_err(|e| ConfigStoreError(e.to_string()))
    }
}

/// The CSMS-managed local authorization list.
#[derive(Debug)]
pub struct StoreLocalList {
    db: Db,
}

impl StoreLocalList {
    pub fn new(db: Db) -> StoreLocalList {
        StoreLocalList { db }
    }
}

impl LocalList for StoreLocalList {
    fn version(&self) -> i32 {
        self.db.read(auth::local_list_version).unwrap_or_else(|e| {
            tracing::warn!("local list version not read: {e}");
            0
        })
    }

    fn apply(&mut self, update: &SendLocalList, max_len: usize) -> UpdateStatus {
        let kind = match update.update_type {
            UpdateType::Full => ListUpdate::Full,
            UpdateType::Differential => ListUpdate::Differential,
        };
        let entries: Vec<ListEntry> = update
            .local_authorization_list
            .iter()
            .flatten()
            .map(|e| ListEntry {
                id_tag: e.id_tag.as_str().to_string(),
                info: e.id_tag_info.as_ref().map(to_store),
            })
            .collect();
        let version = update.list_version;
        match self
            .db
            .write(move |c| auth::apply_local_list(c, kind, version, &entries, max_len))
        {
            Ok(ListOutcome::Accepted) => UpdateStatus::Accepted,
            Ok(ListOutcome::VersionMismatch) => UpdateStatus::VersionMismatch,
            Ok(ListOutcome::Failed) => UpdateStatus::Failed,
            Err(e) => {
                tracing::error!("local list not stored: {e}");
                UpdateStatus::Failed
            }
        }
    }

    fn lookup(&self, id_tag: &str) -> Option<IdTagInfo> {
        match self.db.read(|c| auth::local_list_lookup(c, id_tag)) {
            Ok(entry) => entry.and_then(|e| e.info).map(|i| to_ocpp(&i)),
            Err(e) => {
                tracing::warn!("local list not read: {e}");
                None
            }
        }
    }
}
