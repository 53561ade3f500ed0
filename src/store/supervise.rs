//! The supervised writer: the daemon's writer, which never makes the site depend on the disk.
//!
//! It opens the database itself and keeps trying when that fails (a damaged, foreign or
//! read-only file, a missing directory), with a doubling wait ([`reopen_delay`]). While the
//! database cannot be used every request is answered at once with [`StoreError::Unavailable`],
//! so callers never wait on a broken disk. While it is open the writer watches it: the file at
//! the path must stay the one opened (not deleted or replaced), `PRAGMA quick_check` passes now
//! and then, and a write that fails because of the disk or the file (full, I/O error, corrupt,
//! read-only) counts as a fault. A fault closes the connection and the reopening starts again;
//! what is in [`StoreHealth`] says what is wrong, for the alert.

use super::error::{StoreError, StoreResult};
use super::handle::WriterHandle;
use super::health::{FileId, StoreHealth, file_id, identity_fault, reopen_delay};
use super::writer::{Counters, Msg, WriterOptions, finish, run_batch};
use super::{Store, now_ms, settings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// How the supervised writer retries and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuperviseOptions {
    pub writer: WriterOptions,
    /// The first wait before reopening; it doubles up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// How often the file's identity (device, inode) is compared with the one opened.
    pub check_every: Duration,
    /// How often `PRAGMA quick_check` runs on the open database.
    pub quick_check_every: Duration,
}

impl Default for SuperviseOptions {
    fn default() -> Self {
        SuperviseOptions {
            writer: WriterOptions::default(),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            check_every: Duration::from_secs(5),
            quick_check_every: Duration::from_secs(15 * 60),
        }
    }
}

type Closing = Vec<oneshot::Sender<StoreResult<()>>>;

enum Exit {
    /// Shut down (or every handle dropped).
    Stop,
    /// The database became unusable.
    Fault(String),
}

/// Start the supervised writer for the database at `path` (created if absent, in a directory
/// created if need be). Returns at once, whether or not the database can be opened; its state is
/// in [`WriterHandle::health`].
pub fn supervise(path: PathBuf, options: SuperviseOptions) -> StoreResult<WriterHandle> {
    let (tx, rx) = mpsc::channel(options.writer.queue.max(1));
    let counters = Arc::new(Counters::default());
    // Until the first open has failed, requests wait for it rather than being refused.
    let (health_tx, health_rx) = watch::channel(StoreHealth::ok(now_ms()));
    let c = counters.clone();
    let thread_path = path.clone();
    std::thread::Builder::new()
        .name("hubgate-store".into())
        .spawn(move || run(&thread_path, rx, options, &c, &health_tx))
        .map_err(|source| StoreError::Io { path, source })?;
    Ok(WriterHandle::new(tx, counters, health_rx))
}

fn run(
    path: &Path,
    mut rx: mpsc::Receiver<Msg>,
    options: SuperviseOptions,
    counters: &Counters,
    health: &watch::Sender<StoreHealth>,
) {
    let span = tracing::info_span!("store_writer", db = %path.display());
    let _entered = span.enter();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "the database writer cannot wait; the database is not used");
            refuse_all(&mut rx, &format!("the writer could not start: {e}"));
            return;
        }
    };
    let mut closing = Closing::new();
    let mut attempts = 0u64;
    let mut down_since = now_ms();
    let mut last_fault = String::new();
    loop {
        let fault = match open(path) {
            Ok((store, id)) => {
                if attempts > 0 {
                    tracing::warn!(attempts, "database available again: the journal resumes");
                } else {
                    tracing::info!("database open");
                }
                attempts = 0;
                last_fault.clear();
                health.send_replace(StoreHealth::ok(now_ms()));
                match serve(&rt, &store, id, &mut rx, &options, counters, &mut closing) {
                    Exit::Stop => {
                        finish(store.conn(), closing);
                        return;
                    }
                    Exit::Fault(f) => {
                        down_since = now_ms();
                        f
                    }
                }
            }
            Err(e) => e.to_string(),
        };
        attempts += 1;
        let delay = reopen_delay(attempts, options.retry_min, options.retry_max);
        health.send_replace(StoreHealth::failed(&fault, down_since, attempts));
        if fault != last_fault {
            tracing::error!(
                error = %fault,
                retry_in_s = delay.as_secs_f64(),
                "database unavailable: the site runs on, transactions are kept in memory until it can be written"
            );
            last_fault = fault.clone();
        }
        if !refuse_until(&rt, &mut rx, Instant::now() + delay, &fault, &mut closing) {
            for reply in closing {
                let _ = reply.send(Err(StoreError::Unavailable(fault.clone())));
            }
            return;
        }
    }
}

/// Open the database and prove it can be written (a setting is updated and committed).
fn open(path: &Path) -> StoreResult<(Store, FileId)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
    }
    let store = Store::open(path)?;
    settings::set(
        store.conn(),
        "store.opened_at",
        &now_ms().to_string(),
        now_ms(),
    )?;
    let id = file_id(path).ok_or_else(|| StoreError::Unavailable("the file vanished".into()))?;
    Ok((store, id))
}

/// Run requests on the open `store` until shutdown or a fault.
fn serve(
    rt: &Runtime,
    store: &Store,
    id: FileId,
    rx: &mut mpsc::Receiver<Msg>,
    options: &SuperviseOptions,
    counters: &Counters,
    closing: &mut Closing,
) -> Exit {
    let conn = store.conn();
    let mut next_check = Instant::now() + options.check_every;
    let mut next_quick = Instant::now() + options.quick_check_every;
    loop {
        if Instant::now() >= next_check {
            next_check = Instant::now() + options.check_every;
            if let Some(f) = identity_fault(id, file_id(store.path())) {
                return Exit::Fault(f.to_string());
            }
            if Instant::now() >= next_quick {
                next_quick = Instant::now() + options.quick_check_every;
                if let Err(e) = super::db::quick_check(conn, store.path()) {
                    return Exit::Fault(e.to_string());
                }
            }
        }
        let first = match recv_until(rt, rx, next_check) {
            // Time for the checks, at the top of the loop.
            Err(_) => continue,
            Ok(None) => return Exit::Stop,
            Ok(Some(m)) => m,
        };
        let jobs = super::writer::gather(first, rx, options.writer.max_batch, closing);
        if !jobs.is_empty()
            && let Some(f) = run_batch(conn, jobs, counters)
        {
            return Exit::Fault(f);
        }
    }
}

/// Answer every request with `why` until `deadline`; false once shut down.
fn refuse_until(
    rt: &Runtime,
    rx: &mut mpsc::Receiver<Msg>,
    deadline: Instant,
    why: &str,
    closing: &mut Closing,
) -> bool {
    loop {
        match recv_until(rt, rx, deadline) {
            Err(_) => return true,
            Ok(None) => return false,
            Ok(Some(Msg::Job(job))) => {
                let _ = job(Err(why));
            }
            Ok(Some(Msg::Shutdown(reply))) => {
                rx.close();
                closing.push(reply);
            }
        }
    }
}

/// The next message, or `Err` at `deadline`. (The timer is made inside the runtime.)
fn recv_until(
    rt: &Runtime,
    rx: &mut mpsc::Receiver<Msg>,
    deadline: Instant,
) -> Result<Option<Msg>, tokio::time::error::Elapsed> {
    rt.block_on(async { tokio::time::timeout_at(deadline, rx.recv()).await })
}

fn refuse_all(rx: &mut mpsc::Receiver<Msg>, why: &str) {
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Job(job) => {
                let _ = job(Err(why));
            }
            Msg::Shutdown(reply) => {
                rx.close();
                let _ = reply.send(Err(StoreError::Unavailable(why.to_string())));
            }
        }
    }
}
