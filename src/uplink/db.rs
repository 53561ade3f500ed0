//! Synchronous access to the store for the charge point's stores, which the pure OCPP core calls
//! synchronously: reads on a read-only connection of their own, writes through the store's
//! single writer, waited for until committed. These calls block: the charge point runs on a
//! thread of its own ([`super::link`]).

use crate::store::health::{FileId, file_id};
use crate::store::{Millis, StoreError, WriterHandle};
use rusqlite::{Connection, OpenFlags};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// The store, for blocking callers.
#[derive(Debug, Clone)]
pub struct Db {
    read: Arc<Mutex<Reader>>,
    writer: WriterHandle,
}

/// The read-only connection, opened when first needed and again whenever the file at the path
/// is no longer the one it reads (the writer recreated the database), so reads never depend on
/// the database being there at start.
#[derive(Debug)]
struct Reader {
    path: PathBuf,
    conn: Option<(Connection, FileId)>,
}

impl Reader {
    fn conn(&mut self) -> Result<&Connection, StoreError> {
        let now = file_id(&self.path);
        if self.conn.as_ref().is_some_and(|(_, id)| Some(*id) != now) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let id = now.ok_or_else(|| {
                StoreError::Unavailable(format!("{}: no database file", self.path.display()))
            })?;
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(&self.path, flags)?;
            conn.busy_timeout(crate::store::db::BUSY_TIMEOUT)?;
            conn.pragma_update(None, "query_only", true)?;
            self.conn = Some((conn, id));
        }
        match &self.conn {
            Some((conn, _)) => Ok(conn),
            None => Err(StoreError::Unavailable("no read connection".into())),
        }
    }
}

impl Db {
    /// Reads of the database at `path` (opened and checked by `writer`) on a read-only
    /// connection of their own, opened at the first read; writes through `writer`.
    pub fn open(path: &Path, writer: WriterHandle) -> Result<Db, StoreError> {
        Ok(Db {
            read: Arc::new(Mutex::new(Reader {
                path: path.to_path_buf(),
                conn: None,
            })),
            writer,
        })
    }

    fn reader(&self) -> MutexGuard<'_, Reader> {
        // A panic while reading leaves the connection usable.
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the read-only connection. A read that fails because of the file drops the
    /// connection, so the next read opens it afresh.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut reader = self.reader();
        let result = f(reader.conn()?);
        if matches!(&result, Err(e) if e.is_storage_fault()) {
            reader.conn = None;
        }
        result
    }

    /// Run `f` through the writer and wait until it is committed.
    pub fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        wait(self.writer.call(f))
    }

    pub fn writer(&self) -> &WriterHandle {
        &self.writer
    }
}

/// Now as [`Millis`].
pub fn millis(t: chrono::DateTime<chrono::Utc>) -> Millis {
    t.timestamp_millis()
}

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drive `fut` to completion on this thread, parking it in between. Outside tokio's cooperative
/// budget, so it also works from inside a runtime's `block_on`.
pub fn wait<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(tokio::task::unconstrained(fut));
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
