//! The OCPP uplink wired to the site: the charge point's configuration keys, transaction outbox
//! and local authorization list kept in the store ([`db`], [`outbox`], [`stores`]), and the
//! charge point session on a thread of its own ([`link`]).

pub mod conv;
pub mod db;
pub mod link;
pub mod outbox;
pub mod stores;

pub use db::Db;
pub use link::{LinkThread, Resumed, charge_point};
pub use outbox::StoreOutbox;
pub use stores::{StoreConfig, StoreLocalList};

/// Why the uplink could not start.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("OCPP link: {0}")]
    Link(#[from] crate::ocpp::link::LinkError),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot start the OCPP thread: {0}")]
    Thread(std::io::Error),
}
