//! The external limit and the pauses set over MQTT, kept across a restart or a crash in a small
//! state file next to the database. The file holds the limit's ABSOLUTE expiry (UTC); at start a
//! lapsed limit is dropped and the rest of it runs on the monotonic clock again.
//!
//! Control never depends on the file: it is written by a task of its own (the newest state wins,
//! older unwritten ones are skipped), and a failed write is logged.

use super::commands::{Bounds, Cap, MAX_EXPIRY_S, MqttLimits, Now};
use crate::phase::PerPhase;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::watch;
use tracing::{info, warn};

/// The wall clock the MQTT side dates things with: the system's, plus an offset that tests set
/// to jump it. Expiry never reads it at run time.
#[derive(Debug, Clone, Default)]
pub struct WallClock {
    offset_ms: Arc<AtomicI64>,
}

impl WallClock {
    /// ms since the Unix epoch (UTC).
    pub fn now_ms(&self) -> i64 {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        system.saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) by `ms`, as a clock step would.
    pub fn jump(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// The state file's content (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persisted {
    pub version: u32,
    /// `[L1, L2, L3]` or `null`.
    pub limit_a: Option<[f64; 3]>,
    /// When the limit lapses, ms since the Unix epoch (UTC).
    pub expires_at_ms: Option<i64>,
    pub paused: BTreeSet<String>,
}

const VERSION: u32 = 1;

/// Why the state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an external-limits state file: {message}")]
    Format { path: PathBuf, message: String },
}

impl Persisted {
    pub fn of(limits: &MqttLimits) -> Persisted {
        Persisted {
            version: VERSION,
            limit_a: limits.site_cap.map(|c| c.limit_a.0),
            expires_at_ms: limits.site_cap.map(|c| c.until_unix_ms),
            paused: limits.paused.clone(),
        }
    }

    /// What is still in force at `now`: a lapsed limit is dropped, one whose remaining time is
    /// above the longest expiry (the wall clock went back while hubgate was down) is cut to it,
    /// and whatever the site no longer allows (an unknown charger, a limit above the grid limit)
    /// is dropped. Each dropped item is named in the returned notes.
    pub fn restore(&self, now: Now, bounds: &Bounds) -> (MqttLimits, Vec<String>) {
        let mut notes = Vec::new();
        let mut out = MqttLimits::default();
        if let (Some(limit), Some(until)) = (self.limit_a, self.expires_at_ms) {
            let remaining = until.saturating_sub(now.unix_ms);
            let within = limit
                .iter()
                .zip(bounds.grid_limit_a.0.iter())
                .all(|(l, g)| l.is_finite() && *l >= 0.0 && l <= g);
            if remaining <= 0 {
                notes.push(format!("external limit lapsed at {until} ms while stopped"));
            } else if !within {
                notes.push("external limit above the grid limit now configured".into());
            } else {
                let remaining = (remaining as u64).min((MAX_EXPIRY_S * 1000.0) as u64);
                out.site_cap = Some(Cap {
                    limit_a: PerPhase(limit),
                    until_mono_ms: now.mono_ms.saturating_add(remaining),
                    until_unix_ms: now.unix_ms.saturating_add(remaining as i64),
                });
            }
        }
        for name in &self.paused {
            if bounds.chargers.contains(name) {
                out.paused.insert(name.clone());
            } else {
                notes.push(format!("pause of `{name}`: no such charger any more"));
            }
        }
        (out, notes)
    }
}

/// The state file beside `database`: `hubgate.db` -> `hubgate.limits.json`.
pub fn state_file_for(database: &Path) -> PathBuf {
    database.with_extension("limits.json")
}

/// Reads the state file; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<Persisted>, StateFileError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateFileError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let p: Persisted = serde_json::from_slice(&text).map_err(|e| StateFileError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if p.version != VERSION {
        return Err(StateFileError::Format {
            path: path.to_path_buf(),
            message: format!("version {} (this hubgate reads {VERSION})", p.version),
        });
    }
    Ok(Some(p))
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never a torn one:
/// a temp file beside it, fsync, rename over, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{}.tmp", name.unwrap_or_default()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Reads the state file at start and restores what is still in force (logging what is not).
pub fn load(path: &Path, now: Now, bounds: &Bounds) -> MqttLimits {
    match read(path) {
        Ok(None) => MqttLimits::default(),
        Ok(Some(p)) => {
            let (limits, notes) = p.restore(now, bounds);
            for n in notes {
                info!(file = %path.display(), "not restored: {n}");
            }
            if limits != MqttLimits::default() {
                info!(
                    file = %path.display(),
                    limit_a = ?limits.site_cap.map(|c| c.limit_a.0),
                    expires_at_ms = ?limits.site_cap.map(|c| c.until_unix_ms),
                    paused = ?limits.paused,
                    "external limits restored"
                );
            }
            limits
        }
        Err(e) => {
            warn!(error = %e, "external limits not restored");
            MqttLimits::default()
        }
    }
}

/// Starts the writer: send it each new state; it writes the newest one it has not written yet.
pub fn spawn_writer(path: PathBuf) -> watch::Sender<Option<Persisted>> {
    let (tx, mut rx) = watch::channel::<Option<Persisted>>(None);
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let Some(state) = rx.borrow_and_update().clone() else {
                continue;
            };
            let path = path.clone();
            let result = tokio::task::spawn_blocking(move || {
                let bytes = serde_json::to_vec(&state).map_err(std::io::Error::other)?;
                write_atomic(&path, &bytes)
            })
            .await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "external limits not saved (kept in memory)"),
                Err(e) => warn!(error = %e, "external limits not saved (kept in memory)"),
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            grid_limit_a: PerPhase::splat(63.0),
            chargers: vec!["cp-1".into(), "cp-2".into()],
        }
    }

    fn limits(limit: f64, until_unix_ms: i64, paused: &[&str]) -> MqttLimits {
        MqttLimits {
            site_cap: Some(Cap {
                limit_a: PerPhase::splat(limit),
                until_mono_ms: 123,
                until_unix_ms,
            }),
            paused: paused.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn what_is_in_force_comes_back_with_its_absolute_expiry() {
        let saved = Persisted::of(&limits(30.0, 1_000_600_000, &["cp-1"]));
        let now = Now {
            mono_ms: 50,
            unix_ms: 1_000_100_000,
        };
        let (l, notes) = saved.restore(now, &bounds());
        assert!(notes.is_empty(), "{notes:?}");
        let cap = l.site_cap.unwrap();
        assert_eq!(cap.until_unix_ms, 1_000_600_000);
        assert_eq!(cap.until_mono_ms, 50 + 500_000);
        assert_eq!(cap.limit_a, PerPhase::splat(30.0));
        assert!(l.paused.contains("cp-1"));
    }

    #[test]
    fn lapsed_or_no_longer_allowed_limits_are_dropped() {
        let b = bounds();
        let now = Now {
            mono_ms: 0,
            unix_ms: 2_000,
        };
        let (l, notes) = Persisted::of(&limits(30.0, 2_000, &["cp-9"])).restore(now, &b);
        assert_eq!(l, MqttLimits::default());
        assert_eq!(notes.len(), 2, "{notes:?}");
        let (l, _) = Persisted::of(&limits(80.0, 9_000, &[])).restore(now, &b);
        assert_eq!(l.site_cap, None);
        // The wall clock went back a year while stopped: never longer than a limit may ask.
        let (l, _) = Persisted::of(&limits(30.0, 2_000 + 365 * 86_400_000, &[])).restore(now, &b);
        assert_eq!(l.site_cap.unwrap().until_mono_ms, 86_400_000);
    }

    #[test]
    fn the_file_is_replaced_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_file_for(&dir.path().join("hub.db"));
        assert_eq!(path.file_name().unwrap(), "hub.limits.json");
        assert!(read(&path).unwrap().is_none());
        let a = Persisted::of(&limits(30.0, 5_000, &["cp-1"]));
        write_atomic(&path, &serde_json::to_vec(&a).unwrap()).unwrap();
        let b = Persisted::of(&MqttLimits::default());
        write_atomic(&path, &serde_json::to_vec(&b).unwrap()).unwrap();
        assert_eq!(read(&path).unwrap(), Some(b));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
        std::fs::write(&path, b"{\"version\":1,\"bogus\":1}").unwrap();
        assert!(matches!(read(&path), Err(StateFileError::Format { .. })));
    }
}
