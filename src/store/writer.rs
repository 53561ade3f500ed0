//! The single writer: one thread owns the read-write connection and runs the requests sent to it
//! over a bounded channel, answering each only after the commit that holds its writes returned
//! (with `synchronous = FULL`, after the write-ahead log was fsynced). "Written durably before
//! acted on" is thus what a caller gets from every `await` on a [`WriterHandle`].
//!
//! Requests that queue up while a commit is in progress are run together in the next
//! transaction, up to [`WriterOptions::max_batch`]: one fsync for many events. Each request runs
//! in its own savepoint, so a request that fails leaves no trace and does not disturb the others
//! of its batch. SQLite calls block, so the writer is a dedicated OS thread, not a tokio task.

use super::Store;
use super::error::{StoreError, StoreResult};
use super::handle::WriterHandle;
use rusqlite::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// How the writer queues and batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Requests that may wait in the channel; senders wait when it is full.
    pub queue: usize,
    /// Requests run in one transaction at most (1: a commit per request).
    pub max_batch: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            queue: 256,
            max_batch: 64,
        }
    }
}

/// Counters of the writer's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Requests run.
    pub requests: u64,
    /// Transactions committed (or attempted).
    pub commits: u64,
    /// Commits that failed.
    pub failed_commits: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    commits: AtomicU64,
    failed_commits: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> WriterStats {
        WriterStats {
            requests: self.requests.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            failed_commits: self.failed_commits.load(Ordering::Relaxed),
        }
    }
}

/// A request's work: run on the connection, then told whether its commit succeeded; or, given
/// why the database cannot be used (`Err`), answered with that at once.
pub(crate) type Job = Box<dyn FnOnce(Result<&Connection, &str>) -> Finish + Send>;

/// Sends a job's reply: given `None` if its commit succeeded, else the commit error.
pub(crate) type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

/// What a job left to do once its batch is committed.
pub(crate) struct Finish {
    /// Whether the job's own work succeeded (if not, its savepoint is rolled back).
    pub(crate) ok: bool,
    /// Send the reply: `None` if the commit succeeded, else the commit error.
    pub(crate) reply: Reply,
    /// The job failed because the database itself is unusable (full disk, I/O error, ...).
    pub(crate) fault: bool,
}

pub(crate) enum Msg {
    Job(Job),
    Shutdown(oneshot::Sender<StoreResult<()>>),
}

/// Starts the writer.
#[derive(Debug)]
pub struct StoreWriter;

impl StoreWriter {
    /// Move `store` into a new writer thread with default options; returns the handle requests
    /// are sent through. The writer stops when every handle is dropped or on
    /// [`WriterHandle::shutdown`].
    pub fn spawn(store: Store) -> StoreResult<WriterHandle> {
        Self::spawn_with(store, WriterOptions::default())
    }

    /// [`StoreWriter::spawn`] with explicit options.
    pub fn spawn_with(store: Store, options: WriterOptions) -> StoreResult<WriterHandle> {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let counters = Arc::new(Counters::default());
        let path = store.path().to_path_buf();
        let c = counters.clone();
        std::thread::Builder::new()
            .name("hubgate-store".into())
            .spawn(move || run(store, rx, options.max_batch.max(1), &c))
            .map_err(|source| StoreError::Io { path, source })?;
        Ok(WriterHandle::new(
            tx,
            counters,
            super::health::always_available(),
        ))
    }
}

fn run(store: Store, mut rx: mpsc::Receiver<Msg>, max_batch: usize, counters: &Counters) {
    let span = tracing::info_span!("store_writer", db = %store.path().display());
    let _entered = span.enter();
    let conn = store.conn();
    let mut closing: Vec<oneshot::Sender<StoreResult<()>>> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let jobs = gather(first, &mut rx, max_batch, &mut closing);
        if !jobs.is_empty() {
            let _ = run_batch(conn, jobs, counters);
        }
    }
    finish(conn, closing);
}

/// `first` and what is already queued behind it, up to `max_batch` jobs. A shutdown request
/// stops the queue from taking more (those already queued are still run) and waits in `closing`.
pub(crate) fn gather(
    first: Msg,
    rx: &mut mpsc::Receiver<Msg>,
    max_batch: usize,
    closing: &mut Vec<oneshot::Sender<StoreResult<()>>>,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut next = Some(first);
    while let Some(msg) = next.take() {
        match msg {
            Msg::Job(job) => jobs.push(job),
            Msg::Shutdown(reply) => {
                rx.close();
                closing.push(reply);
            }
        }
        if jobs.len() < max_batch.max(1) {
            next = rx.try_recv().ok();
        }
    }
    jobs
}

/// The final checkpoint, then the answers to those waiting for the writer to stop.
pub(crate) fn finish(conn: &Connection, closing: Vec<oneshot::Sender<StoreResult<()>>>) {
    let result = conn
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(StoreError::from);
    if let Err(e) = &result {
        tracing::warn!(error = %e, "final checkpoint failed");
    }
    for reply in closing {
        let _ = reply.send(match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(StoreError::CommitFailed(e.to_string())),
        });
    }
    tracing::debug!("store writer stopped");
}

/// Run `jobs` in as few transactions as possible and reply to each after its commit. Returns
/// the first sign that the database itself is unusable (a fault), if any.
pub(crate) fn run_batch(conn: &Connection, jobs: Vec<Job>, counters: &Counters) -> Option<String> {
    let mut fault = None;
    counters
        .requests
        .fetch_add(jobs.len() as u64, Ordering::Relaxed);
    let mut group: Vec<Reply> = Vec::new();
    let mut in_batch = begin(conn);
    for job in jobs {
        if !in_batch {
            in_batch = begin(conn);
        }
        let savepoint = conn.execute_batch("SAVEPOINT writer_job").is_ok();
        let finish = job(Ok(conn));
        if !finish.ok && finish.fault && fault.is_none() {
            fault = Some("a write failed: the disk or the file is unusable".to_string());
        }
        let mut ended = Ok(());
        if savepoint && !conn.is_autocommit() {
            let end = if finish.ok {
                "RELEASE writer_job"
            } else {
                "ROLLBACK TO writer_job; RELEASE writer_job"
            };
            ended = conn.execute_batch(end);
        }
        if !in_batch {
            // Ran on its own: its savepoint was its transaction.
            counters.commits.fetch_add(1, Ordering::Relaxed);
            let failure = ended.err().map(|e| {
                note_fault(&mut fault, &e);
                counters.failed_commits.fetch_add(1, Ordering::Relaxed);
                rollback(conn);
                e.to_string()
            });
            (finish.reply)(failure.as_deref());
            continue;
        }
        if let Err(e) = ended {
            note_fault(&mut fault, &e);
            tracing::error!(error = %e, "ending a request's savepoint failed");
        }
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error): the requests
            // before this one in the batch are lost with it.
            const LOST: &str = "the transaction was rolled back by the database";
            tracing::error!(requests = group.len() + 1, "{LOST}");
            fault.get_or_insert_with(|| LOST.to_string());
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters.failed_commits.fetch_add(1, Ordering::Relaxed);
            for reply in group.drain(..) {
                reply(Some(LOST));
            }
            (finish.reply)(Some(LOST));
            in_batch = false;
            continue;
        }
        group.push(finish.reply);
    }
    if in_batch {
        counters.commits.fetch_add(1, Ordering::Relaxed);
        let failure = match conn.execute_batch("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                note_fault(&mut fault, &e);
                counters.failed_commits.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, requests = group.len(), "commit failed");
                rollback(conn);
                Some(e.to_string())
            }
        };
        for reply in group {
            reply(failure.as_deref());
        }
    }
    fault
}

/// Keep `e` as the batch's fault if it says the database is unusable.
fn note_fault(fault: &mut Option<String>, e: &rusqlite::Error) {
    if fault.is_none() && super::error::sqlite_fault(e) {
        *fault = Some(e.to_string());
    }
}

fn begin(conn: &Connection) -> bool {
    match conn.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not open a batch transaction; running requests one by one");
            false
        }
    }
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "rollback after a failed commit failed");
    }
}
