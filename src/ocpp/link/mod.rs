//! The I/O edge: the websocket to the CSMS and the session task around [`ChargePoint`].
//!
//! [`ChargePoint`]: crate::ocpp::chargepoint::ChargePoint

mod config;
mod dial;
mod session;

pub use config::{Backoff, LinkConfig, LinkError, Password, SecurityProfile};
pub use dial::{SUBPROTOCOL, Ws, dial, tls_config};
pub use session::{
    CHANNEL_DEPTH, Clock, LinkState, LinkStatus, OcppHandle, prepare, prepare_with_clock, spawn,
    spawn_with_clock,
};
