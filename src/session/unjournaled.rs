//! Transaction events that could not be journaled yet (pure): a connector's starts and stops,
//! kept in memory in the order they happened while the database cannot be written, and
//! journaled in that order once it can.
//!
//! The rule: a stop that cannot be journaled still ends its transaction at the connector (the
//! connector machine moves on as after a journaled stop), so the next car on that connector is
//! a new transaction, never the old one continued. While events of a connector wait here, its
//! new events wait behind them (a start cannot be journaled before the stop before it). A start
//! kept here has a provisional id ([`is_provisional`]) until it is journaled; the stops that
//! follow it refer to that id and are rewritten to the journal's id when the start is written.

use super::connector::Effect;
use crate::ocpp::messages::{CiString20, Reason};
use crate::ocpp::outbox::LocalTxId;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;

/// Provisional ids start here, far above the journal's own ids (SQLite row ids).
pub const PROVISIONAL_BASE: LocalTxId = 1 << 62;

/// Whether `id` is a provisional id (a start not journaled yet).
pub fn is_provisional(id: LocalTxId) -> bool {
    id >= PROVISIONAL_BASE
}

/// A transaction event waiting for the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Start {
        provisional: LocalTxId,
        id_tag: CiString20,
        meter_start_wh: f64,
        at: DateTime<Utc>,
    },
    Stop {
        /// The journal's id of the transaction, or its provisional id.
        local: LocalTxId,
        meter_stop_wh: f64,
        at: DateTime<Utc>,
        reason: Reason,
        id_tag: Option<CiString20>,
        cost: Option<f64>,
    },
}

/// One connector's waiting events, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Unjournaled {
    events: VecDeque<Event>,
    /// Provisional ids given out (for this connector).
    issued: u64,
    connector: u32,
}

impl Unjournaled {
    pub fn new(connector: u32) -> Unjournaled {
        Unjournaled {
            connector,
            ..Unjournaled::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// The oldest waiting event: the next to journal.
    pub fn front(&self) -> Option<&Event> {
        self.events.front()
    }

    /// Keep a start (an [`Effect::Start`]); returns its provisional id (`None` for other effects).
    pub fn keep_start(&mut self, start: &Effect) -> Option<LocalTxId> {
        let Effect::Start {
            id_tag,
            meter_start_wh,
            at,
        } = start
        else {
            return None;
        };
        self.issued += 1;
        let provisional = PROVISIONAL_BASE
            .saturating_add(u64::from(self.connector) << 32)
            .saturating_add(self.issued);
        self.events.push_back(Event::Start {
            provisional,
            id_tag: id_tag.clone(),
            meter_start_wh: *meter_start_wh,
            at: *at,
        });
        Some(provisional)
    }

    /// Keep a stop (an [`Effect::Stop`]); false for other effects.
    pub fn keep_stop(&mut self, stop: &Effect) -> bool {
        let Effect::Stop {
            local,
            meter_stop_wh,
            at,
            reason,
            id_tag,
            cost,
        } = stop
        else {
            return false;
        };
        self.events.push_back(Event::Stop {
            local: *local,
            meter_stop_wh: *meter_stop_wh,
            at: *at,
            reason: *reason,
            id_tag: id_tag.clone(),
            cost: *cost,
        });
        true
    }

    /// The oldest event was journaled; for a start, as transaction `local`: the stops waiting
    /// for it now refer to `local`. Returns the event.
    pub fn journaled(&mut self, local: Option<LocalTxId>) -> Option<Event> {
        let event = self.events.pop_front()?;
        if let (Event::Start { provisional, .. }, Some(id)) = (&event, local) {
            for e in &mut self.events {
                if let Event::Stop { local, .. } = e
                    && *local == *provisional
                {
                    *local = id;
                }
            }
        }
        Some(event)
    }

    /// The oldest event can never be journaled (the journal refused it, not the disk): dropped,
    /// and with a start the events of its transaction. Returns what was dropped.
    pub fn give_up(&mut self) -> Vec<Event> {
        let Some(event) = self.events.pop_front() else {
            return Vec::new();
        };
        let mut dropped = vec![event];
        if let Event::Start { provisional, .. } = &dropped[0] {
            let id = *provisional;
            let (gone, kept): (Vec<Event>, Vec<Event>) = self
                .events
                .drain(..)
                .partition(|e| matches!(e, Event::Stop { local, .. } if *local == id));
            self.events = kept.into();
            dropped.extend(gone);
        }
        dropped
    }
}

#[cfg(test)]
#[path = "unjournaled_tests.rs"]
mod tests;
