//! OCPP 1.6J uplink: the whole site as one charge point whose connectors 1..N are the site's
//! charger outlets (connector 0 is the site).
//!
//! Pure cores:
//! - [`rpc`]: OCPP-J frames, CALLERROR codes, the one outstanding CALL;
//! - [`messages`]: the payloads with their schema constraints, and the decoding of the CSMS's
//!   requests into typed values or the CALLERROR each fault deserves;
//! - [`profiles`]: smart charging, composite schedules, limits for the load balancer;
//! - [`chargepoint`]: the charge point state machine (site events and CSMS frames in; frames,
//!   site commands out);
//! - [`keys`], [`outbox`], [`local_list`]: the configuration keys, the transaction message queue
//!   and the local authorization list, each behind a trait a persistent store implements;
//! - [`metering`]: readings to sampled values.
//!
//! I/O edge: [`link`] owns the websocket (TLS, basic auth, pings, redial) and runs the session
//! task; [`site`] builds its configuration from the site config.
//!
//! Wiring in the daemon (done by [`crate::session`] with the stores of [`crate::uplink`]):
//! build a [`chargepoint::ChargePoint`] from [`site::setup`], a
//! [`keys::Configuration`] over a persistent [`keys::ConfigStore`], an [`outbox::Outbox`] and a
//! [`local_list::LocalList`]; [`link::spawn`] it with [`site::link_config`]; then feed
//! [`chargepoint::SiteEvent`]s into `OcppHandle::events`, carry out the
//! [`chargepoint::SiteCommand`]s from `OcppHandle::commands` and show `OcppHandle::status`.

pub mod chargepoint;
pub mod keys;
pub mod link;
pub mod local_list;
pub mod messages;
pub mod metering;
pub mod outbox;
pub mod profiles;
pub mod rpc;
pub mod site;
