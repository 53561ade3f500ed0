//! The store against real SQLite files in temporary directories.

mod auth;
mod db;
mod history;
mod outbox;
mod support;
mod writer;
