//! Opening the database: recognising hubgate's own file, refusing anything else untouched,
//! setting the connection up for durability, and migrating the schema.

use super::error::{StoreError, StoreResult};
use super::migrations::{SCHEMA_VERSION, migrate};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `PRAGMA application_id` that marks a database as hubgate's (the ASCII bytes `HUBG`).
pub const APPLICATION_ID: i32 = 0x4855_4247;

/// How long a statement waits for a lock held by another connection before failing with
/// `SQLITE_BUSY` (e.g. a report reading while the daemon checkpoints).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Upper bound kept on the size of the write-ahead log file after a checkpoint.
const JOURNAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// An open hubgate database.
///
/// [`Store::open`] gives the read-write connection the daemon's writer owns;
/// [`Store::open_read_only`] gives a connection for reports and status while the daemon runs.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What the first bytes of the file say, before SQLite is let near it.
enum Header {
    /// No file: it will be created.
    Absent,
    /// A zero-length file: SQLite treats it as an empty database.
    Empty,
    /// An SQLite database with this application id.
    Sqlite { application_id: i32 },
}

impl Store {
    /// Open (creating it if absent) the database at `path` for reading and writing.
    ///
    /// Before anything is written the file is identified: a file that is not SQLite, or fails
    /// `PRAGMA quick_check`, is refused with [`StoreError::Corrupt`]; an SQLite database of another
    /// application (another `application_id`, or tables of its own and no application id) with
    /// [`StoreError::Foreign`]; a database from a newer hubgate with [`StoreError::TooNew`]. A
    /// refused file is not modified. The whole file is read by the check, so opening a large
    /// database takes a moment.
    ///
    /// The connection is then set up as follows:
    /// - `journal_mode = WAL`: readers (reports, `hubgate status`) never block the writer.
    /// - `synchronous = FULL`: in WAL mode this fsyncs the log at every commit, so a commit that
    ///   has returned survives a power cut. With `NORMAL` the log is only synced at checkpoints and
    ///   the last transactions before a power cut could be lost; the journal promises that an event
    ///   is durable before it is acted on, so every commit pays the sync (batching in the writer
    ///   spreads that cost over many events).
    /// - `foreign_keys = ON`, a busy timeout of [`BUSY_TIMEOUT`], and a cap on the log's size.
    ///
    /// Finally the pending migrations are applied, each in its own transaction.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Store> {
        let path = path.as_ref().to_path_buf();
        match read_header(&path)? {
            Header::Sqlite { application_id } if application_id == APPLICATION_ID => {}
            Header::Sqlite { application_id: 0 } => probe_unmarked(&path)?,
            Header::Sqlite { application_id } => {
                return Err(foreign_app_id(&path, application_id));
            }
            Header::Absent | Header::Empty => {}
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(|e| classify(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        quick_check(&conn, &path)?;
        let id = identify(&conn, &path)?;
        if id.user_version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path,
                found: id.user_version,
                supported: SCHEMA_VERSION,
            });
        }
        if id.application_id == 0 {
            // A new database: mark it as hubgate's while still in rollback-journal mode, so the
            // mark is in the main file before anything else is.
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        configure(&conn, &path)?;
        migrate(&mut conn)?;
        Ok(Store { conn, path })
    }

    /// Open an existing hubgate database for reading only (reports, status), next to a running
    /// daemon. Nothing is created, migrated or written.
    ///
    /// Refuses a missing file ([`StoreError::Io`]), anything not hubgate's ([`StoreError::Foreign`],
    /// [`StoreError::Corrupt`], with the same checks as [`Store::open`]), and a schema version
    /// other than this build's ([`StoreError::TooNew`], [`StoreError::NeedsMigration`]).
    pub fn open_read_only(path: impl AsRef<Path>) -> StoreResult<Store> {
        let path = path.as_ref().to_path_buf();
        match read_header(&path)? {
            Header::Absent => {
                return Err(StoreError::Io {
                    path,
                    source: std::io::ErrorKind::NotFound.into(),
                });
            }
            Header::Empty => {
                return Err(StoreError::NeedsMigration {
                    path,
                    found: 0,
                    supported: SCHEMA_VERSION,
                });
            }
            Header::Sqlite { application_id } if application_id == APPLICATION_ID => {}
            Header::Sqlite { application_id: 0 } => probe_unmarked(&path)?,
            Header::Sqlite { application_id } => {
                return Err(foreign_app_id(&path, application_id));
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| classify(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        quick_check(&conn, &path)?;
        let id = identify(&conn, &path)?;
        if id.application_id != APPLICATION_ID || id.user_version < SCHEMA_VERSION {
            return Err(StoreError::NeedsMigration {
                path,
                found: id.user_version,
                supported: SCHEMA_VERSION,
            });
        }
        if id.user_version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path,
                found: id.user_version,
                supported: SCHEMA_VERSION,
            });
        }
        conn.pragma_update(None, "query_only", true)?;
        Ok(Store { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the store's functions (`journal::*`, `outbox::*`, ...).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, mutably (to open a [`rusqlite::Transaction`]).
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The schema version recorded in the database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> StoreResult<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }
}

fn read_header(path: &Path) -> StoreResult<Header> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Header::Absent),
        Err(e) => return Err(io(e)),
    };
    let mut buf = Vec::with_capacity(100);
    file.take(100).read_to_end(&mut buf).map_err(io)?;
    if buf.is_empty() {
        return Ok(Header::Empty);
    }
    if buf.len() < 100 || !buf.starts_with(SQLITE_MAGIC) {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "not an SQLite database (no SQLite file header)".into(),
        });
    }
    let application_id = i32::from_be_bytes([buf[68], buf[69], buf[70], buf[71]]);
    Ok(Header::Sqlite { application_id })
}

fn foreign_app_id(path: &Path, application_id: i32) -> StoreError {
    StoreError::Foreign {
        path: path.to_path_buf(),
        reason: format!(
            "its application id is {application_id:#010x}, hubgate's is {APPLICATION_ID:#010x}"
        ),
    }
}

/// An SQLite file without an application id: accept it only if it holds nothing (or turns out
/// to be ours once the write-ahead log is read). Uses a read-only connection, so nothing is
/// written to a file that may belong to someone else.
fn probe_unmarked(path: &Path) -> StoreResult<()> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    identify(&conn, path).map(|_| ())
}

struct Identity {
    application_id: i32,
    user_version: i64,
}

/// Read the database's marks, refusing it if it is someone else's.
fn identify(conn: &Connection, path: &Path) -> StoreResult<Identity> {
    let classify = |e| classify(path, e);
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(classify)?;
    let user_version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(classify)?;
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(foreign_app_id(path, application_id));
    }
    if application_id == 0 {
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(classify)?;
        if objects > 0 || user_version != 0 {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
                reason: format!(
                    "it has no application id but already holds {objects} schema object(s) \
                     (user_version {user_version})"
                ),
            });
        }
    }
    Ok(Identity {
        application_id,
        user_version,
    })
}

/// `PRAGMA quick_check`: a structural check of every page, without the index cross-checks of
/// `integrity_check`.
pub(crate) fn quick_check(conn: &Connection, path: &Path) -> StoreResult<()> {
    let mut problems = Vec::new();
    conn.pragma_query(None, "quick_check", |row| {
        let line: String = row.get(0)?;
        if line != "ok" && problems.len() < 5 {
            problems.push(line);
        }
        Ok(())
    })
    .map_err(|e| classify(path, e))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("quick_check: {}", problems.join("; ")),
        })
    }
}

/// Map SQLite's "not a database" and "corrupt" errors to [`StoreError::Corrupt`].
fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => StoreError::Sqlite(e),
    }
}

fn configure(conn: &Connection, path: &Path) -> StoreResult<()> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // E.g. a file system without the shared memory WAL needs.
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "write-ahead logging is not available here (journal_mode stays {mode})"
            )),
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    Ok(())
}
