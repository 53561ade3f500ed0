//! Whether the database can be used, as the supervised writer ([`super::supervise`]) publishes
//! it, and the pure rules it follows: how long to wait before reopening, and whether the file
//! it holds open is still the one at the database's path.

use super::{Millis, now_ms};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

/// The database's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreHealth {
    /// Requests are being run (and committed).
    pub available: bool,
    /// What is wrong while not available (open refused, disk full, file deleted, ...).
    pub fault: Option<String>,
    /// Since when the database is in this state.
    pub since_ms: Millis,
    /// Reopen attempts since the fault began.
    pub reopen_attempts: u64,
}

impl StoreHealth {
    /// Available from `at`.
    pub fn ok(at: Millis) -> StoreHealth {
        StoreHealth {
            available: true,
            fault: None,
            since_ms: at,
            reopen_attempts: 0,
        }
    }

    /// Not available since `since` because of `fault`.
    pub fn failed(fault: &str, since: Millis, attempts: u64) -> StoreHealth {
        StoreHealth {
            available: false,
            fault: Some(fault.to_string()),
            since_ms: since,
            reopen_attempts: attempts,
        }
    }
}

/// A receiver that always says "available" (a writer over an already opened store).
pub(crate) fn always_available() -> watch::Receiver<StoreHealth> {
    watch::channel(StoreHealth::ok(now_ms())).1
}

/// How long to wait before reopen attempt `attempt` (1, 2, ...): doubling from `min`, at most `max`.
pub fn reopen_delay(attempt: u64, min: Duration, max: Duration) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    min.saturating_mul(1u32 << doublings).min(max)
}

/// A file's identity: its device and inode.
pub type FileId = (u64, u64);

/// The identity of the file at `path`, if there is one.
pub fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// What is wrong if the file at the database's path (`now`) is not the one opened (`opened`).
pub fn identity_fault(opened: FileId, now: Option<FileId>) -> Option<&'static str> {
    match now {
        None => Some("the database file was deleted while in use"),
        Some(id) if id != opened => Some("the database file was replaced while in use"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_waits_double_up_to_the_maximum() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<u64> = (1..=8)
            .map(|a| reopen_delay(a, min, max).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(reopen_delay(0, min, max), min);
        assert_eq!(reopen_delay(u64::MAX, min, max), max);
    }

    #[test]
    fn a_deleted_or_replaced_file_is_a_fault() {
        assert_eq!(identity_fault((1, 2), Some((1, 2))), None);
        assert!(identity_fault((1, 2), None).is_some_and(|f| f.contains("deleted")));
        assert!(identity_fault((1, 2), Some((1, 3))).is_some_and(|f| f.contains("replaced")));
    }

    #[test]
    fn the_identity_of_a_recreated_file_differs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.db");
        std::fs::write(&p, b"a").unwrap();
        let first = file_id(&p).unwrap();
        let keep = dir.path().join("keep");
        std::fs::rename(&p, &keep).unwrap();
        assert!(identity_fault(first, file_id(&p)).is_some());
        std::fs::write(&p, b"b").unwrap();
        assert!(identity_fault(first, file_id(&p)).is_some());
    }
}
