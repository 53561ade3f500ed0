//! What can go wrong with the database, as seen by a caller of the store.

use std::path::PathBuf;

/// An error from the store.
///
/// The open errors (`Foreign`, `Corrupt`, `TooNew`, `NeedsMigration`) are raised before anything
/// is written: a file that is refused is left exactly as it was found.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is an SQLite database of another application.
    #[error("{path}: not a hubgate database ({reason}); refusing to use or change it")]
    Foreign {
        /// The database file.
        path: PathBuf,
        /// What gave it away (its application id, or tables of its own).
        reason: String,
    },
    /// The file is not an SQLite database at all, or it is damaged.
    #[error("{path}: unreadable or damaged database: {detail}; refusing to use or change it")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What the check found.
        detail: String,
    },
    /// The database was written by a newer hubgate (a higher schema version than this build knows).
    #[error(
        "{path}: database schema version {found} is newer than this hubgate supports ({supported}); \
         upgrade hubgate or point it at another database"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The highest schema version this build knows.
        supported: i64,
    },
    /// A read-only open found a database not yet migrated to this build's schema version.
    #[error(
        "{path}: database schema version {found} is older than this hubgate's ({supported}); \
         start the daemon once to migrate it"
    )]
    NeedsMigration {
        /// The database file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The schema version this build writes.
        supported: i64,
    },
    /// The file could not be inspected.
    #[error("{path}: {source}")]
    Io {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An SQLite call failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON payload could not be read or written.
    #[error("stored payload: {0}")]
    Json(#[from] serde_json::Error),
    /// A row the request refers to does not exist.
    #[error("no {what} with id {id}")]
    NotFound {
        /// The kind of row (`transaction`, `outbox message`).
        what: &'static str,
        /// The id asked for.
        id: i64,
    },
    /// The request does not fit the stored state (e.g. stopping a stopped transaction).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is malformed (e.g. a payload that is not a JSON object).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A stored value is not one this build understands.
    #[error("stored value {value:?} in {column} is not valid")]
    BadValue {
        /// The column it was read from.
        column: &'static str,
        /// The value found.
        value: String,
    },
    /// The batch this request was part of could not be committed: nothing of it was stored.
    #[error("commit failed, nothing stored: {0}")]
    CommitFailed(String),
    /// The writer task has stopped (the daemon is shutting down, or the writer failed).
    #[error("the database writer has stopped")]
    WriterGone,
    /// The database cannot be used at the moment (it could not be opened, or a fault was
    /// detected); nothing was stored. The writer keeps trying to reopen it.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether this error says the database itself is unusable (full disk, I/O error,
    /// corruption, read-only file), rather than that one request did not fit.
    pub fn is_storage_fault(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => sqlite_fault(e),
            StoreError::Corrupt { .. }
            | StoreError::Io { .. }
            | StoreError::CommitFailed(_)
            | StoreError::Unavailable(_)
            | StoreError::WriterGone => true,
            _ => false,
        }
    }
}

/// Whether an SQLite error says the file or the disk is unusable.
pub(crate) fn sqlite_fault(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            DiskFull
                | SystemIoFailure
                | DatabaseCorrupt
                | NotADatabase
                | ReadOnly
                | CannotOpen
                | PermissionDenied
        )
    )
}

/// Shorthand for results of the store.
pub type StoreResult<T> = Result<T, StoreError>;
