//! Session counts, energy and durations (pure).

use super::SessionStats;
use crate::store::history::Session;

/// The median of `values` (the mean of the middle two for an even count); `None` if empty.
pub fn median(values: &mut [i64]) -> Option<f64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2] as f64),
        _ => Some((values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0),
    }
}

fn mean(values: &[i64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<i64>() as f64 / values.len() as f64)
}

/// Figures of `sessions`.
pub fn stats(sessions: &[&Session]) -> SessionStats {
    let mut energy: Vec<i64> = sessions.iter().map(|s| s.energy_wh).collect();
    let mut duration: Vec<i64> = sessions.iter().map(|s| s.duration_ms).collect();
    SessionStats {
        count: u32::try_from(sessions.len()).unwrap_or(u32::MAX),
        energy_wh: energy.iter().sum(),
        mean_energy_wh: mean(&energy),
        median_energy_wh: median(&mut energy),
        mean_duration_ms: mean(&duration),
        median_duration_ms: median(&mut duration),
        idle_ms: sessions.iter().map(|s| s.idle_ms).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5]), Some(5.0));
        assert_eq!(median(&mut [9, 1, 5]), Some(5.0));
        assert_eq!(median(&mut [9, 1, 4, 5]), Some(4.5));
    }

    #[test]
    fn stats_of_sessions() {
        let s = |wh: i64, ms: i64| Session {
            tx: 1,
            csms_tx_id: None,
            connector: 1,
            id_tag: "A".into(),
            started_at: 0,
            stopped_at: ms,
            energy_wh: wh,
            duration_ms: ms,
            idle_ms: 10,
            cost: None,
            stop_reason: None,
        };
        let (a, b, c) = (s(1000, 60_000), s(4000, 30_000), s(2500, 90_000));
        let st = stats(&[&a, &b, &c]);
        assert_eq!((st.count, st.energy_wh, st.idle_ms), (3, 7500, 30));
        assert_eq!(
            (st.mean_energy_wh, st.median_energy_wh),
            (Some(2500.0), Some(2500.0))
        );
        assert_eq!(
            (st.mean_duration_ms, st.median_duration_ms),
            (Some(60_000.0), Some(60_000.0))
        );
        assert_eq!(stats(&[]), SessionStats::default());
    }
}
