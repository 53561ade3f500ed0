//! [`WriterHandle`]: the async face of the store's writer. Every method sends one typed request
//! to the writer thread and waits for its answer, which comes after the commit that made the
//! request's writes durable.
//!
//! A request that was sent runs even if the caller stops waiting for it (its future is dropped):
//! an event is then stored although its caller never learnt so. Callers that must know (the
//! transaction journal) should not race these calls against a timeout.

use super::Millis;
use super::auth::{self, CacheEntry, IdTagInfo, ListEntry, ListOutcome, ListUpdate};
use super::backlog::{self, Backlog, Thinned};
use super::error::{StoreError, StoreResult};
use super::health::StoreHealth;
use super::history::{self, StatusChange};
use super::journal::{
    self, LocalTxId, NewTransaction, Recorded, Sample, StopRecord, TransactionRecord,
};
use super::outbox::{self, Due, RetryPolicy, Seq, Settled, StartAck};
use super::retention::{self, Pruned, Retention};
use super::samples::{self, SiteSample};
use super::settings::{self, Availability};
use super::writer::{Counters, Finish, Job, Msg, WriterStats};
use rusqlite::Connection;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// A cloneable handle to the store's writer.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
    health: watch::Receiver<StoreHealth>,
}

impl WriterHandle {
    pub(crate) fn new(
        tx: mpsc::Sender<Msg>,
        counters: Arc<Counters>,
        health: watch::Receiver<StoreHealth>,
    ) -> Self {
        WriterHandle {
            tx,
            counters,
            health,
        }
    }

    /// Whether the database can be written now, and what is wrong with it if not.
    pub fn health(&self) -> watch::Receiver<StoreHealth> {
        self.health.clone()
    }

    /// Run `f` on the writer's connection, inside the writer's transaction, and return its
    /// result once committed. `f`'s writes are undone if it returns an error. The typed methods
    /// below are all built on this.
    pub async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: Result<&Connection, &str>| {
            let conn = match conn {
                Ok(conn) => conn,
                Err(why) => {
                    let _ = reply_tx.send(Err(StoreError::Unavailable(why.to_string())));
                    return Finish {
                        ok: false,
                        fault: false,
                        reply: Box::new(|_| {}),
                    };
                }
            };
            let result = f(conn);
            Finish {
                ok: result.is_ok(),
                fault: matches!(&result, Err(StoreError::Sqlite(e)) if super::error::sqlite_fault(e)),
                reply: Box::new(move |commit_error: Option<&str>| {
                    let out = match (result, commit_error) {
                        (Ok(_), Some(e)) => Err(StoreError::CommitFailed(e.to_string())),
                        (result, _) => result,
                    };
                    // The caller may have stopped waiting; the work is done either way.
                    let _ = reply_tx.send(out);
                }),
            }
        });
        self.tx
            .send(Msg::Job(job))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        reply_rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Stop the writer: requests already queued are still run, later ones fail with
    /// [`StoreError::WriterGone`]; the write-ahead log is checkpointed. Returns once the writer
    /// has finished.
    pub async fn shutdown(&self) -> StoreResult<()> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.tx
            .send(Msg::Shutdown(reply_tx))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        reply_rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Requests waiting in the channel for the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Counters of the writer's work so far (requests, commits).
    pub fn stats(&self) -> WriterStats {
        self.counters.snapshot()
    }

    /// [`settings::get`].
    pub async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.call(move |c| settings::get(c, &key)).await
    }

    /// [`settings::set`].
    pub async fn set_setting(&self, key: &str, value: &str, now: Millis) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.call(move |c| settings::set(c, &key, &value, now))
            .await
    }

    /// [`settings::all`].
    pub async fn settings(&self) -> StoreResult<Vec<(String, String)>> {
        self.call(settings::all).await
    }

    /// [`settings::availability`].
    pub async fn availability(&self, connector: u32) -> StoreResult<Availability> {
        self.call(move |c| settings::availability(c, connector))
            .await
    }

    /// [`settings::set_availability`].
    pub async fn set_availability(
        &self,
        connector: u32,
        availability: Availability,
        now: Millis,
    ) -> StoreResult<()> {
        self.call(move |c| settings::set_availability(c, connector, availability, now))
            .await
    }

    /// [`journal::record_start`].
    pub async fn record_start(&self, new: NewTransaction) -> StoreResult<Recorded> {
        self.call(move |c| journal::record_start(c, &new)).await
    }

    /// [`journal::record_sample`].
    pub async fn record_sample(&self, sample: Sample) -> StoreResult<Option<Seq>> {
        self.call(move |c| journal::record_sample(c, &sample)).await
    }

    /// [`journal::record_stop`].
    pub async fn record_stop(&self, stop: StopRecord) -> StoreResult<Seq> {
        self.call(move |c| journal::record_stop(c, &stop)).await
    }

    /// [`journal::transaction`].
    pub async fn transaction(&self, tx: LocalTxId) -> StoreResult<Option<TransactionRecord>> {
        self.call(move |c| journal::transaction(c, tx)).await
    }

    /// [`journal::open_transactions`].
    pub async fn open_transactions(&self) -> StoreResult<Vec<TransactionRecord>> {
        self.call(journal::open_transactions).await
    }

    /// [`outbox::next_due`].
    pub async fn next_due(&self, now: Millis) -> StoreResult<Due> {
        self.call(move |c| outbox::next_due(c, now)).await
    }

    /// [`outbox::mark_sent`].
    pub async fn mark_sent(&self, seq: Seq) -> StoreResult<()> {
        self.call(move |c| outbox::mark_sent(c, seq)).await
    }

    /// [`outbox::mark_acked`].
    pub async fn mark_acked(
        &self,
        seq: Seq,
        now: Millis,
        start: Option<StartAck>,
    ) -> StoreResult<Settled> {
        self.call(move |c| outbox::mark_acked(c, seq, now, start.as_ref()))
            .await
    }

    /// [`outbox::mark_failed`].
    pub async fn mark_failed(
        &self,
        seq: Seq,
        now: Millis,
        policy: RetryPolicy,
        error: &str,
    ) -> StoreResult<Settled> {
        let error = error.to_owned();
        self.call(move |c| outbox::mark_failed(c, seq, now, &policy, &error))
            .await
    }

    /// [`backlog::backlog`].
    pub async fn backlog(&self) -> StoreResult<Backlog> {
        self.call(backlog::backlog).await
    }

    /// [`backlog::enforce_limit`].
    pub async fn enforce_limit(&self, max_rows: u64) -> StoreResult<Thinned> {
        self.call(move |c| backlog::enforce_limit(c, max_rows))
            .await
    }

    /// [`auth::apply_local_list`].
    pub async fn apply_local_list(
        &self,
        kind: ListUpdate,
        version: i32,
        entries: Vec<ListEntry>,
        max_len: usize,
    ) -> StoreResult<ListOutcome> {
        self.call(move |c| auth::apply_local_list(c, kind, version, &entries, max_len))
            .await
    }

    /// [`auth::local_list_version`].
    pub async fn local_list_version(&self) -> StoreResult<i32> {
        self.call(auth::local_list_version).await
    }

    /// [`auth::local_list_lookup`].
    pub async fn local_list_lookup(&self, id_tag: &str) -> StoreResult<Option<ListEntry>> {
        let id_tag = id_tag.to_owned();
        self.call(move |c| auth::local_list_lookup(c, &id_tag))
            .await
    }

    /// [`auth::cache_lookup`].
    pub async fn cache_lookup(&self, id_tag: &str) -> StoreResult<Option<CacheEntry>> {
        let id_tag = id_tag.to_owned();
        self.call(move |c| auth::cache_lookup(c, &id_tag)).await
    }

    /// [`auth::cache_put`].
    pub async fn cache_put(
        &self,
        id_tag: &str,
        info: IdTagInfo,
        now: Millis,
        max_entries: usize,
    ) -> StoreResult<usize> {
        let id_tag = id_tag.to_owned();
        self.call(move |c| auth::cache_put(c, &id_tag, &info, now, max_entries))
            .await
    }

    /// [`auth::cache_touch`].
    pub async fn cache_touch(&self, id_tag: &str, now: Millis) -> StoreResult<bool> {
        let id_tag = id_tag.to_owned();
        self.call(move |c| auth::cache_touch(c, &id_tag, now)).await
    }

    /// [`auth::cache_clear`].
    pub async fn cache_clear(&self) -> StoreResult<usize> {
        self.call(auth::cache_clear).await
    }

    /// [`history::record_status`].
    pub async fn record_status(&self, change: StatusChange) -> StoreResult<()> {
        self.call(move |c| history::record_status(c, &change)).await
    }

    /// [`history::last_status`].
    pub async fn last_status(&self, connector: u32) -> StoreResult<Option<StatusChange>> {
        self.call(move |c| history::last_status(c, connector)).await
    }

    /// [`history::raise_alert`].
    pub async fn raise_alert(
        &self,
        key: &str,
        severity: &str,
        message: &str,
        now: Millis,
    ) -> StoreResult<(i64, bool)> {
        let (key, severity, message) = (key.to_owned(), severity.to_owned(), message.to_owned());
        self.call(move |c| history::raise_alert(c, &key, &severity, &message, now))
            .await
    }

    /// [`history::clear_alert`].
    pub async fn clear_alert(&self, key: &str, now: Millis) -> StoreResult<bool> {
        let key = key.to_owned();
        self.call(move |c| history::clear_alert(c, &key, now)).await
    }

    /// [`samples::record_site_sample`].
    pub async fn record_site_sample(&self, sample: SiteSample) -> StoreResult<()> {
        self.call(move |c| samples::record_site_sample(c, &sample))
            .await
    }

    /// [`retention::apply_retention`].
    pub async fn apply_retention(&self, now: Millis, policy: Retention) -> StoreResult<Pruned> {
        self.call(move |c| retention::apply_retention(c, now, &policy))
            .await
    }
}
