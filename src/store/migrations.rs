//! Versioned schema migrations: an ordered list of SQL scripts, each applied once, in its own
//! transaction, and recorded both in `schema_migrations` and in `PRAGMA user_version`.
//!
//! A migration is never edited once released: a change to the schema is a new script at the
//! end of [`MIGRATIONS`].

use super::error::StoreResult;
use rusqlite::{Connection, TransactionBehavior, params};

/// One schema migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version: the schema version once it is applied (1, 2, 3, ... without gaps).
    pub version: i64,
    /// A short name, recorded with it.
    pub name: &'static str,
    /// The SQL script.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "journal",
        sql: include_str!("sql/0001_journal.sql"),
    },
    Migration {
        version: 2,
        name: "authorization",
        sql: include_str!("sql/0002_auth.sql"),
    },
    Migration {
        version: 3,
        name: "history",
        sql: include_str!("sql/0003_history.sql"),
    },
    Migration {
        version: 4,
        name: "deferred power",
        sql: include_str!("sql/0004_deferred.sql"),
    },
];

/// The schema version this build writes: the last migration's.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Apply every migration newer than the database's `user_version`; returns the versions
/// applied. Running it again applies nothing.
///
/// Each migration runs in an immediate transaction that re-reads the version first, so two
/// processes opening the same new file cannot both apply it.
pub fn migrate(conn: &mut Connection) -> StoreResult<Vec<i64>> {
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if current >= m.version {
            continue;
        }
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) \
             VALUES (?1, ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
            params![m.version, m.name],
        )?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
        tracing::info!(version = m.version, name = m.name, "database migrated");
        applied.push(m.version);
    }
    Ok(applied)
}
