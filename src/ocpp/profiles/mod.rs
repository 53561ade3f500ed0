//! Smart charging (pure): installed charging profiles, stacking, composite schedules and the
//! limits handed to the load balancer.
//!
//! - ChargePointMaxProfile (connector 0) caps the SUM of all connectors' currents;
//! - TxProfile (only with a running transaction) else TxDefaultProfile (the connector's own,
//!   else connector 0's) limits one connector;
//! - within a purpose the highest stack level in force wins; a profile is in force inside its
//!   validity window and its schedule's duration;
//! - watts become amperes per phase with the nominal voltage and the number of phases.

mod compose;
mod schedule;
mod store;

pub use compose::{Limits, MAX_COMPOSITE_S, round_down_tenth};
pub use schedule::InstalledProfile;
pub use store::{
    ActiveTx, ConnectorShape, ProfileRejection, ProfileStore, SiteShape, clear_matches,
};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
