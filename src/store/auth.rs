//! Authorization data: the local authorization list the CSMS manages (SendLocalList,
//! GetLocalListVersion) and the authorization cache filled from every IdTagInfo the CSMS sends.
//!
//! idTags compare case-insensitively (OCPP CiString): rows are keyed by the tag folded to lower
//! case, and keep the tag as received. Which source wins (the list over the cache, never copying
//! list entries into the cache) is the authorization policy's business, not the store's.

use super::error::StoreResult;
use super::{Millis, atomically, count};
use rusqlite::{Connection, OptionalExtension, Row, params};

text_enum! {
    /// `IdTagInfo.status` (OCPP 1.6 AuthorizationStatus).
    pub enum AuthStatus {
        /// Allowed to charge.
        Accepted => "Accepted",
        /// Blocked.
        Blocked => "Blocked",
        /// Expired.
        Expired => "Expired",
        /// Unknown.
        Invalid => "Invalid",
        /// Already in another transaction.
        ConcurrentTx => "ConcurrentTx",
    }
}

/// What is known about an idTag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTagInfo {
    /// Its status.
    pub status: AuthStatus,
    /// When it stops being valid, if ever.
    pub expiry: Option<Millis>,
    /// Its parent idTag (group), if any.
    pub parent_id_tag: Option<String>,
}

/// One entry of a SendLocalList update; without `info` (differential updates only) it deletes
/// the tag from the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The idTag as sent.
    pub id_tag: String,
    /// Its data, or `None` to delete it.
    pub info: Option<IdTagInfo>,
}

/// The kind of SendLocalList update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListUpdate {
    /// Replace the whole list.
    Full,
    /// Add, change or delete the given entries.
    Differential,
}

/// The outcome of a list update (SendLocalList.conf status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOutcome {
    /// Applied.
    Accepted,
    /// A differential update not newer than the list held: nothing changed.
    VersionMismatch,
    /// Refused (negative version, or the result would exceed the maximum length): nothing
    /// changed.
    Failed,
}

/// An authorization cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The idTag as last received.
    pub id_tag: String,
    /// Its data.
    pub info: IdTagInfo,
    /// When it was last stored or used.
    pub last_used: Millis,
}

/// The key an idTag is stored under: folded to lower case.
pub fn fold(id_tag: &str) -> String {
    id_tag.to_lowercase()
}

/// The local list's version (0: none received).
pub fn local_list_version(conn: &Connection) -> StoreResult<i32> {
    Ok(conn.query_row(
        "SELECT version FROM local_list_meta WHERE id = 1",
        [],
        |r| r.get(0),
    )?)
}

/// Apply a SendLocalList update: the list and its version change together, or not at all.
///
/// A full update replaces the list (entries without `info` are skipped). A differential update
/// must carry a version above the list's, and an entry without `info` deletes the tag. The
/// result may hold at most `max_len` entries (`LocalAuthListMaxLength`).
pub fn apply_local_list(
    conn: &Connection,
    kind: ListUpdate,
    version: i32,
    entries: &[ListEntry],
    max_len: usize,
) -> StoreResult<ListOutcome> {
    if version < 0 {
        return Ok(ListOutcome::Failed);
    }
    atomically(conn, LIST_SAVEPOINT, || {
        if kind == ListUpdate::Differential && version <= local_list_version(conn)? {
            return Ok(ListOutcome::VersionMismatch);
        }
        if kind == ListUpdate::Full {
            conn.execute("DELETE FROM local_list", [])?;
        }
        let mut put = conn.prepare_cached(
            "INSERT INTO local_list (tag_key, id_tag, status, expiry, parent_id_tag) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tag_key) DO UPDATE SET \
             id_tag = excluded.id_tag, status = excluded.status, expiry = excluded.expiry, \
             parent_id_tag = excluded.parent_id_tag",
        )?;
        let mut del = conn.prepare_cached("DELETE FROM local_list WHERE tag_key = ?1")?;
        for e in entries {
            match &e.info {
                Some(i) => {
                    put.execute(params![
                        fold(&e.id_tag),
                        e.id_tag,
                        i.status,
                        i.expiry,
                        i.parent_id_tag
                    ])?;
                }
                None if kind == ListUpdate::Differential => {
                    del.execute(params![fold(&e.id_tag)])?;
                }
                None => {}
            }
        }
        if local_list_len(conn)? > max_len as u64 {
            // Undo this update's writes; the savepoint itself is released by `atomically`.
            conn.execute_batch(&format!("ROLLBACK TO {LIST_SAVEPOINT}"))?;
            return Ok(ListOutcome::Failed);
        }
        conn.execute(
            "UPDATE local_list_meta SET version = ?1 WHERE id = 1",
            params![version],
        )?;
        Ok(ListOutcome::Accepted)
    })
}

const LIST_SAVEPOINT: &str = "auth_list";

/// The local list's entry for `id_tag` (compared case-insensitively).
pub fn local_list_lookup(conn: &Connection, id_tag: &str) -> StoreResult<Option<ListEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id_tag, status, expiry, parent_id_tag FROM local_list WHERE tag_key = ?1",
    )?;
    Ok(stmt
        .query_row(params![fold(id_tag)], |r| {
            Ok(ListEntry {
                id_tag: r.get(0)?,
                info: Some(info_at(r, 1)?),
            })
        })
        .optional()?)
}

/// Entries in the local list.
pub fn local_list_len(conn: &Connection) -> StoreResult<u64> {
    count(conn, "SELECT count(*) FROM local_list", [])
}

/// The cache entry for `id_tag` (compared case-insensitively). Reading does not count as use:
/// see [`cache_touch`].
pub fn cache_lookup(conn: &Connection, id_tag: &str) -> StoreResult<Option<CacheEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id_tag, status, expiry, parent_id_tag, last_used FROM auth_cache \
         WHERE tag_key = ?1",
    )?;
    Ok(stmt
        .query_row(params![fold(id_tag)], |r| {
            Ok(CacheEntry {
                id_tag: r.get(0)?,
                info: info_at(r, 1)?,
                last_used: r.get(4)?,
            })
        })
        .optional()?)
}

/// Store what the CSMS said about `id_tag` at `now`, then evict down to `max_entries`
/// ([`cache_evict`]); returns the number of entries evicted.
pub fn cache_put(
    conn: &Connection,
    id_tag: &str,
    info: &IdTagInfo,
    now: Millis,
    max_entries: usize,
) -> StoreResult<usize> {
    atomically(conn, "auth_cache_put", || {
        conn.execute(
            "INSERT INTO auth_cache (tag_key, id_tag, status, expiry, parent_id_tag, last_used) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tag_key) DO UPDATE SET \
             id_tag = excluded.id_tag, status = excluded.status, expiry = excluded.expiry, \
             parent_id_tag = excluded.parent_id_tag, last_used = excluded.last_used",
            params![
                fold(id_tag),
                id_tag,
                info.status,
                info.expiry,
                info.parent_id_tag,
                now
            ],
        )?;
        cache_evict(conn, now, max_entries)
    })
}

/// Mark the cache entry for `id_tag` as used at `now`; returns whether there was one.
pub fn cache_touch(conn: &Connection, id_tag: &str, now: Millis) -> StoreResult<bool> {
    Ok(conn.execute(
        "UPDATE auth_cache SET last_used = max(last_used, ?2) WHERE tag_key = ?1",
        params![fold(id_tag), now],
    )? > 0)
}

/// Evict entries until at most `max_entries` remain: entries that are not valid at `now` (status
/// other than Accepted, or expired) first, then the least recently used. Returns the number
/// evicted.
pub fn cache_evict(conn: &Connection, now: Millis, max_entries: usize) -> StoreResult<usize> {
    let len = cache_len(conn)?;
    let excess = i64::try_from(len.saturating_sub(max_entries as u64)).unwrap_or(i64::MAX);
    if excess == 0 {
        return Ok(0);
    }
    Ok(conn.execute(
        "DELETE FROM auth_cache WHERE tag_key IN (SELECT tag_key FROM auth_cache ORDER BY \
         (status = 'Accepted' AND (expiry IS NULL OR expiry > ?1)), last_used, tag_key \
         LIMIT ?2)",
        params![now, excess],
    )?)
}

/// Empty the cache (ClearCache); returns the number of entries removed.
pub fn cache_clear(conn: &Connection) -> StoreResult<usize> {
    Ok(conn.execute("DELETE FROM auth_cache", [])?)
}

/// Entries in the cache.
pub fn cache_len(conn: &Connection) -> StoreResult<u64> {
    count(conn, "SELECT count(*) FROM auth_cache", [])
}

fn info_at(r: &Row<'_>, first: usize) -> rusqlite::Result<IdTagInfo> {
    Ok(IdTagInfo {
        status: r.get(first)?,
        expiry: r.get(first + 1)?,
        parent_id_tag: r.get(first + 2)?,
    })
}
