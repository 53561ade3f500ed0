//! OCPP-J remote procedure calls: frames, error codes, the outstanding-call tracker.
//! Pure: no I/O here.

mod error;
mod frame;
mod tracker;

pub use error::{CallFault, ErrorCode};
pub use frame::{BadFrame, Frame, MAX_ID_LEN, UNKNOWN_ID, parse};
pub use tracker::{Answer, Busy, CallTracker, Outstanding};
