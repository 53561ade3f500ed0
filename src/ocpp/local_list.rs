//! The local authorization list as the CSMS manages it (SendLocalList, GetLocalListVersion).
//!
//! [`LocalList`] is the interface a persistent store implements; [`MemoryLocalList`] keeps the
//! list in memory. idTags are matched case-insensitively.

use super::messages::{AuthorizationData, IdTagInfo, SendLocalList, UpdateStatus, UpdateType};
use std::collections::BTreeMap;

/// The CSMS-managed local authorization list.
pub trait LocalList {
    /// The list's version (0 = empty / none received).
    fn version(&self) -> i32;
    /// Apply SendLocalList; `max_len` is `LocalAuthListMaxLength`.
    fn apply(&mut self, update: &SendLocalList, max_len: usize) -> UpdateStatus;
    /// The entry for an idTag, compared case-insensitively.
    fn lookup(&self, id_tag: &str) -> Option<IdTagInfo>;
}

/// A [`LocalList`] in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryLocalList {
    version: i32,
    /// Keyed by the lowercased idTag; the value keeps the tag as received.
    entries: BTreeMap<String, AuthorizationData>,
}

impl LocalList for MemoryLocalList {
    fn version(&self) -> i32 {
        self.version
    }

    fn apply(&mut self, update: &SendLocalList, max_len: usize) -> UpdateStatus {
        let items = update.local_authorization_list.as_deref().unwrap_or(&[]);
        if update.list_version < 0 {
            return UpdateStatus::Failed;
        }
        let mut entries = match update.update_type {
            UpdateType::Full => BTreeMap::new(),
            UpdateType::Differential => {
                if update.list_version <= self.version {
                    return UpdateStatus::VersionMismatch;
                }
                self.entries.clone()
            }
        };
        for item in items {
            let key = item.id_tag.as_str().to_lowercase();
            match (&item.id_tag_info, update.update_type) {
                (Some(_), _) => {
                    entries.insert(key, item.clone());
                }
                (None, UpdateType::Differential) => {
                    entries.remove(&key);
                }
                // a full list entry without idTagInfo carries nothing to keep
                (None, UpdateType::Full) => {}
            }
        }
        if entries.len() > max_len {
            return UpdateStatus::Failed;
        }
        self.entries = entries;
        self.version = update.list_version;
        UpdateStatus::Accepted
    }

    fn lookup(&self, id_tag: &str) -> Option<IdTagInfo> {
        self.entries
            .get(&id_tag.to_lowercase())
            .and_then(|e| e.id_tag_info.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::messages::{AuthorizationStatus, CiString20};

    fn entry(tag: &str, status: Option<AuthorizationStatus>) -> AuthorizationData {
        AuthorizationData {
            id_tag: CiString20::new(tag).unwrap(),
            id_tag_info: status.map(|status| IdTagInfo {
                expiry_date: None,
                parent_id_tag: None,
                status,
            }),
        }
    }

    #[test]
    fn full_then_differential() {
        let mut l = MemoryLocalList::default();
        let full = SendLocalList {
            list_version: 3,
            local_authorization_list: Some(vec![
                entry("AbC", Some(AuthorizationStatus::Accepted)),
                entry("gone", Some(AuthorizationStatus::Blocked)),
            ]),
            update_type: UpdateType::Full,
        };
        assert_eq!(l.apply(&full, 10), UpdateStatus::Accepted);
        assert_eq!(l.version(), 3);
        assert_eq!(
            l.lookup("abc").unwrap().status,
            AuthorizationStatus::Accepted
        );
        let diff = SendLocalList {
            list_version: 3,
            local_authorization_list: Some(vec![entry("GONE", None)]),
            update_type: UpdateType::Differential,
        };
        assert_eq!(l.apply(&diff, 10), UpdateStatus::VersionMismatch);
        let diff = SendLocalList {
            list_version: 4,
            ..diff
        };
        assert_eq!(l.apply(&diff, 10), UpdateStatus::Accepted);
        assert!(l.lookup("gone").is_none());
        assert_eq!(l.apply(&full, 1), UpdateStatus::Failed);
        assert_eq!(l.version(), 4);
    }
}
