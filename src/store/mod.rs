//! The site's database (SQLite): the transaction journal and its OCPP outbox, settings, the
//! authorization list and cache, and history for reports.
//!
//! - [`Store`] opens and checks the file and migrates the schema ([`db`], [`migrations`]).
//! - The data lives behind plain functions over a [`rusqlite::Connection`], one module per
//!   subject: [`settings`], [`journal`], [`outbox`], [`backlog`], [`auth`], [`history`],
//!   [`samples`], [`retention`]. Each function that writes more than one row is atomic on its own (it runs in
//!   a savepoint), and composes inside a caller's transaction.
//! - In the daemon one task owns the read-write connection: [`StoreWriter`] runs the functions
//!   for its callers, batching what is queued into one fsynced commit and answering each
//!   caller only after that commit ([`writer`], [`WriterHandle`]).
//!
//! Times are [`Millis`]: milliseconds since the Unix epoch, UTC. Energies are integer Wh.

#[macro_use]
mod text_enum;

pub mod auth;
pub mod backlog;
pub mod db;
pub mod error;
pub mod handle;
pub mod health;
pub mod history;
pub mod journal;
pub mod lock;
pub mod migrations;
pub mod outbox;
pub mod retention;
pub mod samples;
pub mod settings;
pub mod supervise;
pub mod writer;

pub use db::{APPLICATION_ID, Store};
pub use error::{StoreError, StoreResult};
pub use handle::WriterHandle;
pub use health::StoreHealth;
pub use migrations::SCHEMA_VERSION;
pub use supervise::{SuperviseOptions, supervise};
pub use writer::{StoreWriter, WriterOptions, WriterStats};

use rusqlite::Connection;

/// A point in time: milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The current time as [`Millis`] (0 if the clock is before 1970).
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX))
        .unwrap_or(0)
}

/// A row count read from SQLite (an `i64` there) as `u64`.
pub(crate) fn count(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<u64> {
    let n: i64 = conn.query_row(sql, params, |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `n` (a count) as `u64`.
pub(crate) fn nonneg(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Run `f` in a savepoint: all its writes are kept, or none.
///
/// Outside a transaction the savepoint is the transaction (committed at its release); inside
/// one (the writer's batch) it only undoes `f`'s own writes on error.
pub(crate) fn atomically<T>(
    conn: &Connection,
    name: &str,
    f: impl FnOnce() -> StoreResult<T>,
) -> StoreResult<T> {
    let outermost = conn.is_autocommit();
    conn.execute_batch(&format!("SAVEPOINT {name}"))?;
    let undo = |conn: &Connection| {
        let sql = if outermost && !conn.is_autocommit() {
            "ROLLBACK".to_string()
        } else if outermost {
            return;
        } else {
            format!("ROLLBACK TO {name}; RELEASE {name}")
        };
        if let Err(e) = conn.execute_batch(&sql) {
            tracing::error!(error = %e, savepoint = name, "undoing a failed write failed");
        }
    };
    match f() {
        Ok(v) => match conn.execute_batch(&format!("RELEASE {name}")) {
            Ok(()) => Ok(v),
            Err(e) => {
                undo(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            undo(conn);
            Err(e)
        }
    }
}
