//! Key/value settings that must survive a restart: OCPP configuration keys changed by the CSMS,
//! connector availability, and the like.
//!
//! Keys are case-sensitive text chosen by the caller; by convention OCPP keys are stored under
//! their OCPP name (`HeartbeatInterval`) and hubgate's own under a dotted name
//! (`connector.2.availability`).

use super::Millis;
use super::error::StoreResult;
use rusqlite::{Connection, OptionalExtension, params};

/// The value stored under `key`, if any.
pub fn get(conn: &Connection, key: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()?)
}

/// Store `value` under `key`, replacing any previous value.
pub fn set(conn: &Connection, key: &str, value: &str, now: Millis) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, value, now],
    )?;
    Ok(())
}

/// Remove `key`; returns whether it was there.
pub fn remove(conn: &Connection, key: &str) -> StoreResult<bool> {
    Ok(conn.execute("DELETE FROM settings WHERE key = ?1", params![key])? > 0)
}

/// Every setting, ordered by key.
pub fn all(conn: &Connection) -> StoreResult<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM settings ORDER BY key")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

text_enum! {
    /// A connector's availability as set by ChangeAvailability, kept across restarts.
    pub enum Availability {
        /// Available for charging.
        Operative => "Operative",
        /// Taken out of service.
        Inoperative => "Inoperative",
    }
}

/// The settings key of a connector's availability (connector 0: the whole charge point).
pub fn availability_key(connector: u32) -> String {
    format!("connector.{connector}.availability")
}

/// The stored availability of `connector`; [`Availability::Operative`] if never set.
pub fn availability(conn: &Connection, connector: u32) -> StoreResult<Availability> {
    match get(conn, &availability_key(connector))? {
        None => Ok(Availability::Operative),
        Some(v) => Availability::parse(&v).ok_or(super::StoreError::BadValue {
            column: "settings.value",
            value: v,
        }),
    }
}

/// Store the availability of `connector`.
pub fn set_availability(
    conn: &Connection,
    connector: u32,
    availability: Availability,
    now: Millis,
) -> StoreResult<()> {
    set(
        conn,
        &availability_key(connector),
        availability.as_str(),
        now,
    )
}
