//! A connector's time by state, and its outages, from its status changes (pure).
//!
//! A status holds from its change until the next one. The time *observed* is the part of the
//! period from the connector's first known status onwards (a status recorded before the period
//! counts from the period's start); time before any record is unknown and in no figure.

use super::{FaultStats, TimeShares};
use crate::store::Millis;
use crate::store::history::StatusChange;

/// What one recorded status means for the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    /// Not observed: hubgate was stopped (the time until the next record is in no figure).
    pub unobserved: bool,
    /// hubgate could talk to the charger.
    pub communicating: bool,
    /// The charger reported a fault.
    pub faulted: bool,
    /// Usable by a driver: Available, Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing.
    pub available: bool,
    /// A vehicle connected: Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing.
    pub occupied: bool,
    /// Charging.
    pub charging: bool,
}

impl Class {
    /// Up: communicating and not faulted.
    pub fn up(&self) -> bool {
        self.communicating && !self.faulted
    }
}

/// The `info` the recorder writes for a charger it cannot reach.
pub const UNREACHABLE_INFO: &str = "unreachable";

/// The `info` of the record the recorder writes for each charger when it stops (status
/// `Unknown`): nothing is known of the charger until hubgate records it again.
pub const STOPPED_INFO: &str = "hubgate stopped";

/// Classifies a recorded status. A record with the info [`STOPPED_INFO`] is unobserved time. A
/// charger hubgate cannot reach is recorded as `Unavailable`
/// with an error code other than `NoError` (the recorder writes `OtherError` and the info
/// [`UNREACHABLE_INFO`]); `Unreachable` is accepted as a spelling of the same.
pub fn classify(change: &StatusChange) -> Class {
    let s = change.status.as_str();
    let unreachable = change.info.as_deref() == Some(UNREACHABLE_INFO)
        || s == "Unreachable"
        || (s == "Unavailable" && change.error_code != "NoError");
    let occupied = matches!(
        s,
        "Preparing" | "Charging" | "SuspendedEV" | "SuspendedEVSE" | "Finishing"
    );
    Class {
        unobserved: change.info.as_deref() == Some(STOPPED_INFO),
        communicating: !unreachable,
        faulted: s == "Faulted",
        available: !unreachable && (occupied || s == "Available"),
        occupied: !unreachable && occupied,
        charging: !unreachable && s == "Charging",
    }
}

/// Time shares over `[from, end)` of one connector's `changes` (in time order, the last change
/// before `from` included); `None` if no time in the period was observed.
pub fn time_shares(changes: &[&StatusChange], from: Millis, end: Millis) -> Option<TimeShares> {
    let mut t = TimeShares::default();
    for (i, c) in changes.iter().enumerate() {
        let next = changes.get(i + 1).map_or(end, |n| n.at.min(end));
        let d = (next - c.at.max(from)).max(0);
        if c.at >= end || d == 0 {
            continue;
        }
        let k = classify(c);
        if k.unobserved {
            continue;
        }
        t.observed_ms += d;
        t.up_ms += if k.up() { d } else { 0 };
        t.available_ms += if k.available { d } else { 0 };
        t.occupied_ms += if k.occupied { d } else { 0 };
        t.charging_ms += if k.charging { d } else { 0 };
    }
    if t.observed_ms == 0 {
        return None;
    }
    let pct = |x: i64| 100.0 * x as f64 / t.observed_ms as f64;
    t.uptime_pct = pct(t.up_ms);
    t.availability_pct = pct(t.available_ms);
    t.occupied_pct = pct(t.occupied_ms);
    t.charging_pct = pct(t.charging_ms);
    Some(t)
}

/// Outages (faulted or not communicating) of one connector: those that began in `[from, end)`,
/// and how long the ones that ended by `end` took to recover. A stop of hubgate neither ends
/// nor starts an outage: one still open when hubgate stopped lasts until a record shows the
/// charger up again.
pub fn faults(changes: &[&StatusChange], from: Millis, end: Millis) -> FaultStats {
    let mut stats = FaultStats::default();
    let mut down_since: Option<Millis> = None;
    let mut recoveries: Vec<i64> = Vec::new();
    for c in changes.iter().take_while(|c| c.at < end) {
        let k = classify(c);
        if k.unobserved {
            continue;
        }
        let up = k.up();
        match (down_since, up) {
            (None, false) => {
                down_since = Some(c.at);
                if c.at >= from {
                    stats.count += 1;
                }
            }
            (Some(since), true) => {
                if since >= from {
                    recoveries.push(c.at - since);
                }
                down_since = None;
            }
            _ => {}
        }
    }
    stats.down_at_end = down_since.is_some();
    stats.recovered = u32::try_from(recoveries.len()).unwrap_or(u32::MAX);
    stats.max_recovery_ms = recoveries.iter().copied().max();
    stats.mean_recovery_ms = (!recoveries.is_empty())
        .then(|| recoveries.iter().sum::<i64>() as f64 / recoveries.len() as f64);
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(status: &str, error: &str, at: Millis) -> StatusChange {
        StatusChange {
            connector: 1,
            status: status.into(),
            error_code: error.into(),
            info: None,
            at,
        }
    }

    #[test]
    fn statuses_classify_as_documented() {
        let k = |s, e| classify(&ch(s, e, 0));
        assert!(k("Available", "NoError").up() && k("Available", "NoError").available);
        assert!(!k("Available", "NoError").occupied);
        let charging = k("Charging", "NoError");
        assert!(charging.available && charging.occupied && charging.charging);
        assert!(k("SuspendedEV", "NoError").occupied && !k("SuspendedEV", "NoError").charging);
        let faulted = k("Faulted", "OtherError");
        assert!(faulted.communicating && !faulted.up() && !faulted.available);
        let lost = k("Unavailable", "OtherError");
        assert!(!lost.communicating && !lost.up());
        let off = k("Unavailable", "NoError");
        assert!(
            off.up() && !off.available,
            "switched off by the operator: up, not available"
        );
        let unknown = k("Unknown", "NoError");
        assert!(unknown.up() && !unknown.available);
        let mut tagged = ch("Unavailable", "NoError", 0);
        tagged.info = Some(UNREACHABLE_INFO.into());
        assert!(!classify(&tagged).communicating);
        let mut stopped = ch("Unknown", "NoError", 0);
        stopped.info = Some(STOPPED_INFO.into());
        assert!(classify(&stopped).unobserved);
    }

    #[test]
    fn time_while_hubgate_was_stopped_is_not_observed() {
        let mut stop = ch("Unknown", "NoError", 30);
        stop.info = Some(STOPPED_INFO.into());
        let rows = [
            ch("Faulted", "OtherError", 0),
            stop.clone(),
            ch("Available", "NoError", 80),
        ];
        let refs: Vec<_> = rows.iter().collect();
        let t = time_shares(&refs, 0, 100).expect("data");
        assert_eq!((t.observed_ms, t.up_ms), (50, 20));
        let f = faults(&refs, 0, 100);
        assert_eq!((f.count, f.max_recovery_ms), (1, Some(80)));
        assert!(
            time_shares(&refs[1..2], 0, 100).is_none(),
            "only a stop: no data"
        );
    }

    #[test]
    fn shares_count_from_the_first_record_and_clip_to_the_period() {
        let rows = [
            ch("Available", "NoError", -50),
            ch("Charging", "NoError", 10),
            ch("Faulted", "OtherError", 40),
            ch("Available", "NoError", 70),
            ch("Charging", "NoError", 200),
        ];
        let refs: Vec<_> = rows.iter().collect();
        let t = time_shares(&refs, 0, 100).expect("data");
        assert_eq!(
            (
                t.observed_ms,
                t.up_ms,
                t.available_ms,
                t.occupied_ms,
                t.charging_ms
            ),
            (100, 70, 70, 30, 30)
        );
        assert_eq!((t.uptime_pct, t.charging_pct), (70.0, 30.0));
        let f = faults(&refs, 0, 100);
        assert_eq!((f.count, f.recovered, f.max_recovery_ms), (1, 1, Some(30)));
        assert_eq!(f.mean_recovery_ms, Some(30.0));
        assert!(!f.down_at_end);
        assert!(
            time_shares(&refs[4..], 0, 100).is_none(),
            "first record after the end"
        );
        assert!(time_shares(&[], 0, 100).is_none());
    }

    #[test]
    fn an_outage_is_one_episode_until_the_charger_is_up_again() {
        let rows = [
            ch("Faulted", "OtherError", -10),
            ch("Available", "NoError", 5),
            ch("Faulted", "OtherError", 20),
            ch("Unavailable", "OtherError", 30),
            ch("Available", "NoError", 60),
            ch("Unavailable", "OtherError", 90),
        ];
        let refs: Vec<_> = rows.iter().collect();
        let f = faults(&refs, 0, 100);
        assert_eq!(f.count, 2, "the one begun before the period is not counted");
        assert_eq!(f.recovered, 1);
        assert_eq!(f.max_recovery_ms, Some(40));
        assert!(f.down_at_end);
    }
}
