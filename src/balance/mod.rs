//! Load management (pure): the site model, one control cycle's allocation, and the rules that keep
//! the site under its limits. No I/O: the control loop (`control.rs`) feeds it snapshots.

mod cycle;
mod fill;
mod model;
mod observe;
mod snapshot;

pub use cycle::{
    ChargerObs, ControlState, CyclePlan, DEMAND_HEADROOM_A, MeterObs, Reason, Setpoint, Snapshot,
    lost_counted, plan_cycle,
};
pub use fill::{Ask, Bound, Grant, fill};
pub use model::{ChargerNode, CircuitNode, Failsafe, ModelError, Settings, SiteModel, path_of};
pub use observe::{
    CURRENT_RANGE_FACTOR, NEGATIVE_TOLERANCE_A, VOLTAGE_BAND, charger_range, judge_meter,
    meter_range, observe,
};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_faults;
