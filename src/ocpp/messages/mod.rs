//! OCPP 1.6 payloads (Core, Smart Charging, Remote Trigger, Local Auth List Management) and the
//! decoding of the CSMS's requests with the OCPP-J error code for each kind of fault.

mod core;
mod decode;
mod enums;
mod smart;
mod types;

pub use self::core::*;
pub use decode::{CsmsRequest, KNOWN_ACTIONS, decode_payload, decode_request};
pub use enums::*;
pub use smart::*;
pub use types::*;
