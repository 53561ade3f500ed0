//! The charge point logic (pure): events from the site and frames from the CSMS in; frames to
//! send, commands for the site out. Time is always passed in, as a [`Moment`] on both clocks:
//! every wait (heartbeat, sample interval, call timeout, boot and transaction message retries,
//! the wait for the next clock-aligned instant) runs on its monotonic clock, so a change of the
//! wall clock moves no timer; the wall clock only stamps messages and places the clock-aligned
//! instants, which are recomputed when the wall clock jumps.
//!
//! Rules kept here: nothing but BootNotification until the CSMS accepts the boot (Pending
//! allows answering the CSMS's requests; Rejected silences the charge point until the retry
//! interval passed); one outstanding CALL; other messages overtake the ordered transaction
//! outbox; a reconnect re-sends only the connector statuses that changed.

mod answers;
mod outgoing;
mod requests;
mod site;
pub mod testkit;
mod types;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_clock;
#[cfg(test)]
mod tests_requests;
#[cfg(test)]
mod tests_transactions;

pub use types::*;

use super::keys::Configuration;
use super::local_list::LocalList;
use super::messages::{
    ChargePointErrorCode, ChargePointStatus, CiString20, MeterValues, Timestamp,
};
use super::metering::MeterReading;
use super::outbox::{LocalTxId, Outbox, TxMessage};
use super::profiles::{ActiveTx, ProfileStore};
use super::rpc::{CallTracker, Frame, parse};
use crate::clock::{Moment, Mono};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, VecDeque};

/// A connector's reported state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatusReport {
    status: ChargePointStatus,
    error_code: ChargePointErrorCode,
    info: Option<String>,
    vendor_error_code: Option<String>,
}

/// A running transaction.
#[derive(Debug, Clone)]
pub(crate) struct TxState {
    local: LocalTxId,
    transaction_id: Option<i32>,
    started: DateTime<Utc>,
    last_sample: Mono,
}

/// The next clock-aligned sample: the wall-clock instant it stands for, when it falls due on
/// the monotonic clock, and the (CSMS-corrected) moment it was planned at, to notice a jump.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Aligned {
    at: DateTime<Utc>,
    due: Mono,
    planned: Moment,
}

/// A message waiting to be sent that is not a transaction message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Normal {
    Heartbeat,
    Status(u32),
    Authorize {
        connector: Option<u32>,
        id_tag: CiString20,
    },
    Meter(MeterValues),
}

/// What our outstanding CALL was.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sent {
    Boot,
    Heartbeat,
    Status(u32, StatusReport),
    Authorize {
        connector: Option<u32>,
        id_tag: CiString20,
    },
    Meter,
    Tx {
        seq: u64,
        message: TxMessage,
    },
}

/// The site as one OCPP 1.6 charge point.
pub struct ChargePoint {
    setup: Setup,
    config: Configuration,
    outbox: Box<dyn Outbox + Send>,
    local_list: Box<dyn LocalList + Send>,
    profiles: ProfileStore,
    calls: CallTracker<Sent>,
    connected: bool,
    registration: Registration,
    /// When to send BootNotification; `None` once accepted (until a triggered one).
    boot_due: Option<Mono>,
    clock_offset: TimeDelta,
    last_heartbeat: Mono,
    /// When the outbox's first message may be sent again (its seq, the monotonic instant).
    tx_retry: Option<(u64, Mono)>,
    queue: VecDeque<Normal>,
    status: BTreeMap<u32, StatusReport>,
    status_sent: BTreeMap<u32, StatusReport>,
    txs: BTreeMap<u32, TxState>,
    readings: BTreeMap<u32, MeterReading>,
    next_aligned: Option<Aligned>,
    remote_profile: Option<(Option<u32>, super::messages::ChargingProfile)>,
    scheduled_availability: BTreeMap<u32, super::messages::AvailabilityType>,
    pending_unlock: BTreeMap<u32, String>,
    local_cap_a: Option<f64>,
    out: Vec<Output>,
}

impl std::fmt::Debug for ChargePoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChargePoint")
            .field("registration", &self.registration)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

impl ChargePoint {
    /// A freshly (re)started charge point: it will send BootNotification once connected.
    pub fn new(
        setup: Setup,
        config: Configuration,
        outbox: Box<dyn Outbox + Send>,
        local_list: Box<dyn LocalList + Send>,
        now: Moment,
    ) -> Self {
        let calls = CallTracker::new(&setup.id_prefix, setup.call_timeout);
        let profiles = ProfileStore::new(setup.shape.clone());
        let unknown = StatusReport {
            status: ChargePointStatus::Unavailable,
            error_code: ChargePointErrorCode::NoError,
            info: None,
            vendor_error_code: None,
        };
        let status = std::iter::once(0)
            .chain(setup.shape.connectors.keys().copied())
            .map(|c| (c, unknown.clone()))
            .collect();
        ChargePoint {
            setup,
            config,
            outbox,
            local_list,
            profiles,
            calls,
            connected: false,
            registration: Registration::Unknown,
            boot_due: Some(now.mono),
            clock_offset: TimeDelta::zero(),
            last_heartbeat: now.mono,
            tx_retry: None,
            queue: VecDeque::new(),
            status,
            status_sent: BTreeMap::new(),
            txs: BTreeMap::new(),
            readings: BTreeMap::new(),
            next_aligned: None,
            remote_profile: None,
            scheduled_availability: BTreeMap::new(),
            pending_unlock: BTreeMap::new(),
            local_cap_a: None,
            out: Vec::new(),
        }
    }

    /// Reinstall profiles saved before a restart (from [`SiteCommand::LimitsChanged`]).
    /// TxProfiles are dropped: their transactions ended with the restart or will be resumed
    /// without them.
    pub fn with_profiles(mut self, mut saved: ProfileStore) -> Self {
        saved.shape = self.setup.shape.clone();
        for c in self.setup.shape.connectors.keys() {
            saved.transaction_ended(*c);
        }
        self.profiles = saved;
        self
    }

    /// A transaction that was running before a restart (or before this charge point was
    /// rebuilt) and goes on: its messages are already in the outbox; RemoteStop, TxProfiles and
    /// periodic samples apply to it again.
    pub fn resume_transaction(
        &mut self,
        connector: u32,
        local: LocalTxId,
        started: DateTime<Utc>,
        now: Moment,
    ) {
        let transaction_id = self.outbox.transaction_id(local).ok().flatten();
        tracing::info!(connector, local, ?transaction_id, "transaction resumed");
        self.txs.insert(
            connector,
            TxState {
                local,
                transaction_id,
                started,
                last_sample: now.mono,
            },
        );
    }

    pub fn registration(&self) -> Registration {
        self.registration
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn config(&self) -> &Configuration {
        &self.config
    }

    /// The current charging limits (also sent as [`SiteCommand::LimitsChanged`]).
    pub fn charging_limits(&self) -> ChargingLimits {
        ChargingLimits {
            profiles: self.profiles.clone(),
            transactions: self.active_txs(),
        }
    }

    /// Transaction messages waiting for the CSMS.
    pub fn outbox_depth(&self) -> usize {
        self.outbox.depth().unwrap_or(0)
    }

    /// The websocket is up.
    pub fn on_connected(&mut self, now: Moment) -> Vec<Output> {
        self.connected = true;
        self.last_heartbeat = now.mono;
        self.out.push(Output::PingInterval(
            self.config.int("WebSocketPingInterval"),
        ));
        if self.registration == Registration::Accepted {
            self.queue_changed_statuses();
        }
        self.finish(now)
    }

    /// The websocket went down: what was in flight is abandoned (transaction messages stay
    /// queued and are sent again).
    pub fn on_disconnected(&mut self, now: Moment) -> Vec<Output> {
        self.connected = false;
        if let Some(o) = self.calls.abandon() {
            self.call_failed(o.tag, now, false);
        }
        let queued: Vec<Normal> = self.queue.drain(..).collect();
        for n in queued {
            if let Normal::Authorize { connector, id_tag } = n {
                self.site(SiteCommand::AuthorizeResult {
                    connector,
                    id_tag,
                    info: None,
                });
            }
        }
        self.finish(now)
    }

    /// A text frame from the CSMS.
    pub fn on_text(&mut self, text: &str, now: Moment) -> Vec<Output> {
        match parse(text) {
            Err(bad) => {
                tracing::warn!("invalid frame from the CSMS: {}", bad.fault);
                if let Some(reply) = bad.reply() {
                    self.send(reply);
                }
            }
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => {
                if self.registration == Registration::Rejected {
                    tracing::info!(%action, "boot rejected: not answering the CSMS");
                } else {
                    self.handle_request(&id, &action, &payload, now);
                }
            }
            Ok(answer) => match self.calls.answer(answer) {
                Some((o, a)) => self.handle_answer(o.tag, a, now),
                None => tracing::debug!("answer to no outstanding call ignored"),
            },
        }
        self.finish(now)
    }

    /// Something happened at the site.
    pub fn on_site(&mut self, event: SiteEvent, now: Moment) -> Vec<Output> {
        self.handle_site(event, now);
        self.finish(now)
    }

    /// Time passed (call about once a second).
    pub fn on_tick(&mut self, now: Moment) -> Vec<Output> {
        if let Some(o) = self.calls.expire(now.mono) {
            tracing::warn!(action = %o.action, id = %o.id, "the CSMS did not answer in time");
            self.call_failed(o.tag, now, true);
        }
        self.sample(now);
        self.finish(now)
    }

    /// Our clock, corrected by the CSMS's time.
    fn clock(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t + self.clock_offset
    }

    fn stamp(&self, t: DateTime<Utc>) -> Timestamp {
        Timestamp(self.clock(t))
    }

    /// `now` with its wall clock corrected by the CSMS's time.
    fn corrected(&self, now: Moment) -> Moment {
        Moment {
            mono: now.mono,
            wall: self.clock(now.wall),
        }
    }

    fn send(&mut self, frame: Frame) {
        self.out.push(Output::Send(frame.to_text()));
    }

    fn site(&mut self, cmd: SiteCommand) {
        self.out.push(Output::Site(cmd));
    }

    fn limits_changed(&mut self) {
        let limits = self.charging_limits();
        self.site(SiteCommand::LimitsChanged(Box::new(limits)));
    }

    fn active_txs(&self) -> BTreeMap<u32, ActiveTx> {
        self.txs
            .iter()
            .map(|(&c, t)| {
                (
                    c,
                    ActiveTx {
                        transaction_id: t.transaction_id,
                        started: t.started,
                    },
                )
            })
            .collect()
    }

    fn queue_changed_statuses(&mut self) {
        let changed: Vec<u32> = self
            .status
            .iter()
            .filter(|(c, s)| self.status_sent.get(c) != Some(s))
            .map(|(c, _)| *c)
            .collect();
        for c in changed {
            self.enqueue(Normal::Status(c));
        }
    }

    fn enqueue(&mut self, n: Normal) {
        if !self.queue.contains(&n) {
            self.queue.push_back(n);
        }
    }

    fn finish(&mut self, now: Moment) -> Vec<Output> {
        self.pump(now);
        std::mem::take(&mut self.out)
    }
}
