//! A charger's device state as the session machine and the OCPP meter see it (pure).

use super::connector::Observation;
use crate::device::DeviceState;
use crate::driver::{ConnectorStatus, IecState};
use crate::ocpp::messages::PhaseLabel;
use crate::ocpp::metering::MeterReading;

/// Polls that may fail in a row before a charger counts as lost.
pub const LOST_AFTER_FAILURES: u32 = 3;

/// A current above this (A) on any phase means energy flows.
const CHARGING_A: f64 = 1.0;

/// What the state says, or `None` while the charger has not been polled yet.
pub fn observation(state: &DeviceState, register_wh: Option<f64>) -> Option<Observation> {
    if state.read_at.is_none() && state.failures == 0 {
        return None;
    }
    let reachable = state.read_at.is_some() && state.failures < LOST_AFTER_FAILURES;
    let Some(reading) = state.reading.as_ref().filter(|_| reachable) else {
        return Some(Observation {
            reachable: false,
            ..Observation::default()
        });
    };
    let ch = reading.charger.as_ref();
    let iec = ch.and_then(|c| c.iec);
    let ocpp = ch.and_then(|c| c.ocpp);
    let plugged = match (iec, ocpp) {
        (Some(i), _) => i.connected(),
        (None, Some(s)) => matches!(
            s,
            ConnectorStatus::Preparing
                | ConnectorStatus::Charging
                | ConnectorStatus::SuspendedEV
                | ConnectorStatus::SuspendedEVSE
                | ConnectorStatus::Finishing
        ),
        (None, None) => false,
    };
    let drawing = reading
        .currents_a
        .0
        .iter()
        .any(|a| a.is_some_and(|a| a > CHARGING_A));
    let charging = plugged
        && (drawing
            || ocpp == Some(ConnectorStatus::Charging)
                && iec.is_none_or(|i| matches!(i, IecState::C | IecState::D)));
    let fault = ch.filter(|c| c.faulted).map(|c| {
        c.error_code
            .map_or_else(|| "fault".to_string(), |e| e.to_string())
    });
    Some(Observation {
        reachable: true,
        plugged,
        charging,
        fault,
        register_wh,
        id_tag: ch.and_then(|c| c.id_tag.clone()),
        offered_a: state.written_a.unwrap_or(0.0),
    })
}

/// The OCPP meter reading of a connector: its register and the charger's own measurements.
pub fn meter_reading(state: &DeviceState, register_wh: f64) -> MeterReading {
    let labels = [PhaseLabel::L1, PhaseLabel::L2, PhaseLabel::L3];
    let Some(r) = &state.reading else {
        return MeterReading {
            energy_wh: register_wh,
            ..MeterReading::default()
        };
    };
    let per_phase = |values: &crate::phase::PerPhase<Option<f64>>| {
        labels
            .iter()
            .zip(values.0.iter())
            .filter_map(|(l, v)| v.map(|v| (*l, v)))
            .collect::<Vec<_>>()
    };
    MeterReading {
        energy_wh: register_wh,
        power_w: r.power_w,
        currents_a: per_phase(&r.currents_a),
        voltages_v: per_phase(&r.voltages_v),
        offered_a: state.written_a,
        soc_percent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{ChargerReading, DeviceReading};
    use crate::phase::PerPhase;
    use tokio::time::Instant;

    fn state(iec: IecState, ocpp: ConnectorStatus, amps: f64) -> DeviceState {
        DeviceState {
            reading: Some(DeviceReading {
                currents_a: PerPhase([Some(amps), Some(amps), None]),
                charger: Some(ChargerReading {
                    iec: Some(iec),
                    ocpp: Some(ocpp),
                    session_energy_wh: Some(100.0),
                    ..ChargerReading::default()
                }),
                ..DeviceReading::default()
            }),
            read_at: Some(Instant::now()),
            written_a: Some(16.0),
            ..DeviceState::default()
        }
    }

    #[test]
    fn plugged_charging_and_lost() {
        let o = observation(
            &state(IecState::C, ConnectorStatus::Charging, 15.0),
            Some(5.0),
        )
        .unwrap();
        assert!(o.reachable && o.plugged && o.charging);
        assert_eq!((o.register_wh, o.offered_a), (Some(5.0), 16.0));
        let o = observation(&state(IecState::B, ConnectorStatus::SuspendedEV, 0.0), None).unwrap();
        assert!(o.plugged && !o.charging);
        let o = observation(&state(IecState::A, ConnectorStatus::Available, 0.0), None).unwrap();
        assert!(!o.plugged);
        assert_eq!(observation(&DeviceState::default(), None), None);
        let mut lost = state(IecState::C, ConnectorStatus::Charging, 15.0);
        lost.failures = LOST_AFTER_FAILURES;
        assert!(!observation(&lost, None).unwrap().reachable);
        lost.failures = 1;
        assert!(
            observation(&lost, None).unwrap().reachable,
            "one failed poll is tolerated"
        );
    }

    #[test]
    fn meter_readings_carry_the_phases_read() {
        let m = meter_reading(&state(IecState::C, ConnectorStatus::Charging, 15.0), 1234.0);
        assert_eq!(m.energy_wh, 1234.0);
        assert_eq!(
            m.currents_a,
            vec![(PhaseLabel::L1, 15.0), (PhaseLabel::L2, 15.0)]
        );
        assert_eq!(m.offered_a, Some(16.0));
    }
}
