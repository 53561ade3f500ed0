//! The store against real SQLite files in temporary directories.

mod auth;
mod crash;
mod db;
mod history;
mod outbox;
mod outbox_props;
mod supervise;
mod support;
mod writer;
