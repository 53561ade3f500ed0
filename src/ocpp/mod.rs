//! OCPP 1.6J uplink: the whole site as one charge point whose connectors 1..N are the site's
//! charger outlets (connector 0 is the site).
//!
//! - [`rpc`]: OCPP-J frames, CALLERROR codes, the one outstanding CALL (pure);
//! - [`messages`]: the payloads with their schema constraints (pure, serde);
//! - [`profiles`]: smart charging, composite schedules, limits for the load balancer (pure);
//! - [`keys`], [`outbox`], [`local_list`]: the configuration keys, the transaction message queue
//!   and the local authorization list, each behind a trait a persistent store implements;
//! - [`metering`]: readings to sampled values;

pub mod chargepoint;
pub mod keys;
pub mod link;
pub mod local_list;
pub mod messages;
pub mod metering;
pub mod outbox;
pub mod profiles;
pub mod rpc;
