//! One connector's sessions (pure): from what its charger reports, cycle after cycle, and from
//! ids, remote commands and the CSMS's answers, when a transaction starts and stops, and the
//! connector's OCPP status. Side effects (journal writes, asking the CSMS, unlocking) come out as
//! [`Effect`]s; the caller carries them out and reports back (`started`, `stopped`, ...).

use super::tariff::{CostMeter, Tariff};
use crate::auth::{AfterRejection, LateRejection, RiskCap, Verdict, late_rejection, same_id};
use crate::clock::Mono;
use crate::ocpp::messages::{ChargePointErrorCode, ChargePointStatus, CiString20, Reason};
use crate::ocpp::outbox::LocalTxId;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

/// The current instant, in UTC and in the site's local time (for timestamps and the tariff),
/// and on the monotonic clock (for every wait: the connection timeout, the risk cap's duration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub utc: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub mono: Mono,
}

/// What the charger reported in one cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// It answers on its bus.
    pub reachable: bool,
    /// A vehicle is plugged in.
    pub plugged: bool,
    /// Current flows to the vehicle.
    pub charging: bool,
    /// The charger reports a fault (its error code as text).
    pub fault: Option<String>,
    /// The connector's energy register (Wh), see [`super::energy`].
    pub register_wh: Option<f64>,
    /// An idTag the charger read (RFID), if its driver has one.
    pub id_tag: Option<String>,
    /// The current the charger offers the vehicle (A).
    pub offered_a: f64,
}

/// Site-wide rules of sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Transactions need an authorized id (a CSMS is configured); without it every plug-in
    /// starts one.
    pub requires_auth: bool,
    /// Every plug-in starts with this id, unauthorized (free vend).
    pub free_vend: Option<CiString20>,
    /// How long an accepted id waits for a vehicle (ConnectionTimeOut).
    pub connection_timeout: TimeDelta,
    /// Below this offer (A) a vehicle cannot charge: the charger suspends it.
    pub min_current_a: f64,
    /// No new transaction starts (the journal cannot be written and `[storage] on_failure` is
    /// `pause_new_sessions`); running ones go on and stop as usual.
    pub hold_new_sessions: bool,
}

/// A running transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Tx {
    pub local: LocalTxId,
    pub id_tag: CiString20,
    pub started: DateTime<Utc>,
    /// The start on the monotonic clock, which the risk cap's duration counts from.
    pub started_mono: Mono,
    pub meter_start_wh: f64,
    pub register_wh: f64,
    /// The risk cap of an unknown id accepted offline.
    pub cap: Option<RiskCap>,
    /// Late rejection: what happens once the register reaches the value.
    pub rejection: Option<(f64, AfterRejection)>,
    /// No energy any more (rejected id), until the vehicle leaves.
    pub suspended: bool,
    pub cost: Option<CostMeter>,
}

/// Something the caller must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Decide on an id (the authorization policy, the CSMS), then call `authorized`.
    Authorize(CiString20),
    /// Journal a start, then call `started` (or `start_failed`).
    Start {
        id_tag: CiString20,
        meter_start_wh: f64,
        at: DateTime<Utc>,
    },
    /// Journal a stop, then call `stopped` (or `stop_failed`).
    Stop {
        local: LocalTxId,
        meter_stop_wh: f64,
        at: DateTime<Utc>,
        reason: Reason,
        id_tag: Option<CiString20>,
        cost: Option<f64>,
    },
    /// Unlock the cable.
    Unlock,
}

/// A connector's OCPP status.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub status: ChargePointStatus,
    pub error_code: ChargePointErrorCode,
    pub info: Option<String>,
    pub vendor_error_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Idle,
    /// A vehicle, no transaction; `finished`: one ended while it stayed plugged in.
    Plugged {
        finished: bool,
    },
    Starting {
        cap: Option<RiskCap>,
    },
    Active(Tx),
    Stopping(Tx),
}

/// What a cycle decided for a running transaction.
enum Next {
    Stop(Reason),
    Rejection(AfterRejection),
}

#[derive(Debug, Clone, PartialEq)]
enum Auth {
    Asking(CiString20),
    Granted {
        id_tag: CiString20,
        cap: Option<RiskCap>,
        until: Mono,
    },
}

/// One connector.
#[derive(Debug, Clone)]
pub struct Connector {
    pub number: u32,
    state: State,
    auth: Option<Auth>,
    operative: bool,
    last: Observation,
    seen_tag: Option<String>,
    unlock_after_stop: bool,
}

impl Connector {
    pub fn new(number: u32, operative: bool) -> Connector {
        Connector {
            number,
            state: State::Idle,
            auth: None,
            operative,
            last: Observation::default(),
            seen_tag: None,
            unlock_after_stop: false,
        }
    }

    /// A transaction that was running before a restart and goes on.
    pub fn resume(&mut self, tx: Tx) {
        self.state = State::Active(tx);
    }

    pub fn tx(&self) -> Option<&Tx> {
        match &self.state {
            State::Active(tx) | State::Stopping(tx) => Some(tx),
            _ => None,
        }
    }

    /// The charger may deliver energy.
    pub fn delivering(&self) -> bool {
        matches!(&self.state, State::Active(tx) if !tx.suspended)
    }

    pub fn operative(&self) -> bool {
        self.operative
    }

    pub fn set_operative(&mut self, operative: bool) {
        self.operative = operative;
    }

    /// Whether a remote start without a connector may pick this one (a vehicle waits first).
    pub fn free_for_remote_start(&self) -> Option<bool> {
        let usable = self.operative && self.last.reachable && self.last.fault.is_none();
        match &self.state {
            State::Idle if usable => Some(false),
            State::Plugged { .. } if usable => Some(true),
            _ => None,
        }
    }

    /// One cycle's report of the charger.
    pub fn observe(
        &mut self,
        obs: Observation,
        now: Now,
        rules: &Rules,
        tariff: Option<&Tariff>,
    ) -> Vec<Effect> {
        self.last = obs;
        let mut out = Vec::new();
        if !self.last.reachable {
            return out;
        }
        let tag = self.last.id_tag.clone().filter(|t| !t.is_empty());
        let new_tag = match (&tag, &self.seen_tag) {
            (Some(t), Some(s)) => !same_id(t, s),
            (Some(_), None) => true,
            _ => false,
        };
        self.seen_tag = tag.clone();
        if new_tag && let Some(t) = tag {
            out.extend(self.present(CiString20::truncated(&t), now, rules));
        }
        if matches!(&self.auth, Some(Auth::Granted { until, .. }) if now.mono > *until) {
            tracing::info!(
                connector = self.number,
                "no vehicle within the connection timeout"
            );
            self.auth = None;
        }
        let plugged = self.last.plugged;
        let mut then = None;
        match &mut self.state {
            State::Idle if plugged => self.state = State::Plugged { finished: false },
            State::Plugged { .. } if !plugged => self.state = State::Idle,
            State::Active(tx) => {
                if let Some(r) = self.last.register_wh {
                    tx.register_wh = tx.register_wh.max(r);
                    if let (Some(c), Some(t)) = (&mut tx.cost, tariff) {
                        c.advance(t, now.local, tx.register_wh);
                    }
                }
                let energy = tx.register_wh - tx.meter_start_wh;
                if !plugged {
                    then = Some(Next::Stop(Reason::EVDisconnected));
                } else if tx
                    .cap
                    .is_some_and(|c| c.exceeded(energy, now.mono.since(tx.started_mono)))
                {
                    tracing::info!(
                        connector = self.number,
                        local = tx.local,
                        energy,
                        "offline risk cap reached"
                    );
                    then = Some(Next::Stop(Reason::Other));
                } else if let Some((until, rule)) = tx.rejection
                    && tx.register_wh >= until
                {
                    tx.rejection = None;
                    then = Some(Next::Rejection(rule));
                }
            }
            _ => {}
        }
        match then {
            Some(Next::Stop(reason)) => return self.stop(reason, None, now),
            Some(Next::Rejection(rule)) => return self.after_rejection(rule, now),
            None if self.tx().is_some() => return out,
            None => {}
        }
        out.extend(self.try_start(now, rules));
        out
    }

    /// An idTag was presented at this connector (RFID at the charger, the site's reader).
    pub fn present(&mut self, id_tag: CiString20, now: Now, rules: &Rules) -> Vec<Effect> {
        match &self.state {
            State::Active(tx) if same_id(tx.id_tag.as_str(), id_tag.as_str()) => {
                self.stop(Reason::Local, Some(id_tag), now)
            }
            State::Active(_) | State::Starting { .. } | State::Stopping(_) => Vec::new(),
            _ if !rules.requires_auth => {
                self.grant(id_tag, None, now, rules);
                self.try_start(now, rules)
            }
            _ => {
                self.auth = Some(Auth::Asking(id_tag.clone()));
                vec![Effect::Authorize(id_tag)]
            }
        }
    }

    /// The verdict on an id this connector asked about.
    pub fn authorized(
        &mut self,
        id_tag: &CiString20,
        verdict: Verdict,
        now: Now,
        rules: &Rules,
    ) -> Vec<Effect> {
        let presented = match &self.auth {
            Some(Auth::Asking(t)) if same_id(t.as_str(), id_tag.as_str()) => t.clone(),
            _ => return Vec::new(),
        };
        match verdict {
            Verdict::Accepted { cap, .. } => {
                self.grant(presented, cap, now, rules);
                self.try_start(now, rules)
            }
            Verdict::Refused(status) => {
                tracing::info!(connector = self.number, id_tag = %id_tag, ?status, "id refused");
                self.auth = None;
                Vec::new()
            }
        }
    }

    /// RemoteStartTransaction for this connector.
    pub fn remote_start(
        &mut self,
        id_tag: CiString20,
        authorize_first: bool,
        now: Now,
        rules: &Rules,
    ) -> Vec<Effect> {
        if matches!(
            self.state,
            State::Active(_) | State::Starting { .. } | State::Stopping(_)
        ) {
            return Vec::new();
        }
        if authorize_first {
            self.auth = Some(Auth::Asking(id_tag.clone()));
            return vec![Effect::Authorize(id_tag)];
        }
        self.grant(id_tag, None, now, rules);
        self.try_start(now, rules)
    }

    /// RemoteStopTransaction.
    pub fn remote_stop(&mut self, local: LocalTxId, now: Now) -> Vec<Effect> {
        match &self.state {
            State::Active(tx) if tx.local == local => self.stop(Reason::Remote, None, now),
            _ => Vec::new(),
        }
    }

    /// The CSMS answered the StartTransaction of `local`.
    pub fn confirmed(
        &mut self,
        local: LocalTxId,
        accepted: bool,
        stop_on_invalid: bool,
        max_energy_on_invalid_wh: f64,
        now: Now,
    ) -> Vec<Effect> {
        let State::Active(tx) = &mut self.state else {
            return Vec::new();
        };
        if tx.local != local {
            return Vec::new();
        }
        if accepted {
            tx.cap = None;
            return Vec::new();
        }
        let delivered = tx.register_wh - tx.meter_start_wh;
        match late_rejection(stop_on_invalid, max_energy_on_invalid_wh, delivered) {
            LateRejection::Allow { until_wh, then } => {
                tx.rejection = Some((tx.meter_start_wh + until_wh, then));
                Vec::new()
            }
            LateRejection::Now(then) => self.after_rejection(then, now),
        }
    }

    /// UnlockConnector: a transaction stops first (reason UnlockCommand).
    pub fn unlock(&mut self, now: Now) -> Vec<Effect> {
        match &self.state {
            State::Active(_) => {
                self.unlock_after_stop = true;
                self.stop(Reason::UnlockCommand, None, now)
            }
            _ => vec![Effect::Unlock],
        }
    }

    /// Stop a running transaction (Reset, ...).
    pub fn stop_with(&mut self, reason: Reason, now: Now) -> Vec<Effect> {
        self.stop(reason, None, now)
    }

    /// The start could not be journaled now (the database is unusable and new sessions are
    /// held): the connector waits as before it, its id still granted, and starts once allowed.
    pub fn start_held(&mut self, start: &Effect, now: Now, rules: &Rules) {
        let (State::Starting { cap }, Effect::Start { id_tag, .. }) = (&self.state, start) else {
            return;
        };
        let cap = *cap;
        self.state = State::Plugged { finished: false };
        self.grant(id_tag.clone(), cap, now, rules);
    }

    /// The start was journaled as `local`.
    pub fn started(&mut self, local: LocalTxId, start: &Effect, now: Now, tariff: Option<&Tariff>) {
        let (
            State::Starting { cap },
            Effect::Start {
                id_tag,
                meter_start_wh,
                at,
            },
        ) = (&self.state, start)
        else {
            return;
        };
        self.state = State::Active(Tx {
            local,
            id_tag: id_tag.clone(),
            started: *at,
            started_mono: now.mono,
            meter_start_wh: *meter_start_wh,
            register_wh: *meter_start_wh,
            cap: *cap,
            rejection: None,
            suspended: false,
            cost: tariff.map(|t| CostMeter::start(t, now.local, *meter_start_wh)),
        });
    }

    /// The start could not be journaled: it did not happen.
    pub fn start_failed(&mut self) {
        if matches!(self.state, State::Starting { .. }) {
            self.state = State::Plugged { finished: true };
        }
    }

    /// The stop was journaled.
    pub fn stopped(&mut self) -> Vec<Effect> {
        if !matches!(self.state, State::Stopping(_)) {
            return Vec::new();
        }
        self.state = if self.last.plugged {
            State::Plugged { finished: true }
        } else {
            State::Idle
        };
        if std::mem::take(&mut self.unlock_after_stop) {
            vec![Effect::Unlock]
        } else {
            Vec::new()
        }
    }

    /// The transaction known as `provisional` (a start kept in memory) was journaled as `local`.
    pub fn rebind(&mut self, provisional: LocalTxId, local: LocalTxId) {
        if let State::Active(tx) | State::Stopping(tx) = &mut self.state
            && tx.local == provisional
        {
            tx.local = local;
        }
    }

    /// The stop could not be journaled and will not be kept: the transaction goes on. (A stop
    /// kept for later, see [`super::unjournaled`], is [`Connector::stopped`] instead.)
    pub fn stop_failed(&mut self) {
        if let State::Stopping(tx) = &self.state {
            self.state = State::Active(tx.clone());
        }
    }

    /// The status to report.
    pub fn status(&self, rules: &Rules) -> Status {
        let o = &self.last;
        let plain = |status| Status {
            status,
            error_code: ChargePointErrorCode::NoError,
            info: None,
            vendor_error_code: None,
        };
        if !o.reachable {
            return Status {
                status: ChargePointStatus::Faulted,
                error_code: ChargePointErrorCode::InternalError,
                info: Some("charger not answering".into()),
                vendor_error_code: None,
            };
        }
        if let Some(code) = &o.fault {
            return Status {
                status: ChargePointStatus::Faulted,
                error_code: ChargePointErrorCode::OtherError,
                info: Some("charger reports a fault".into()),
                vendor_error_code: Some(code.clone()),
            };
        }
        use ChargePointStatus::*;
        plain(match &self.state {
            State::Active(_) if o.charging => Charging,
            State::Active(tx) if !tx.suspended && o.offered_a >= rules.min_current_a => SuspendedEV,
            State::Active(_) => SuspendedEVSE,
            State::Stopping(_) => Finishing,
            _ if !self.operative => Unavailable,
            State::Starting { .. } | State::Plugged { finished: false } => Preparing,
            State::Plugged { finished: true } => Finishing,
            State::Idle if matches!(self.auth, Some(Auth::Granted { .. })) => Preparing,
            State::Idle => Available,
        })
    }

    fn grant(&mut self, id_tag: CiString20, cap: Option<RiskCap>, now: Now, rules: &Rules) {
        self.auth = Some(Auth::Granted {
            id_tag,
            cap,
            until: now.mono.after_delta(rules.connection_timeout),
        });
    }

    fn try_start(&mut self, now: Now, rules: &Rules) -> Vec<Effect> {
        let State::Plugged { finished } = self.state else {
            return Vec::new();
        };
        let Some(meter_start_wh) = self.last.register_wh else {
            return Vec::new();
        };
        if !self.operative || rules.hold_new_sessions {
            return Vec::new();
        }
        let (id_tag, cap) = match self.auth.take() {
            Some(Auth::Granted { id_tag, cap, .. }) => (id_tag, cap),
            other => {
                self.auth = other;
                let free = match (&rules.free_vend, rules.requires_auth) {
                    (Some(id), _) => id.clone(),
                    (None, false) => CiString20::truncated(self.seen_tag.as_deref().unwrap_or("")),
                    (None, true) => return Vec::new(),
                };
                if finished {
                    return Vec::new();
                }
                (free, None)
            }
        };
        self.state = State::Starting { cap };
        vec![Effect::Start {
            id_tag,
            meter_start_wh,
            at: now.utc,
        }]
    }

    fn after_rejection(&mut self, then: AfterRejection, now: Now) -> Vec<Effect> {
        match then {
            AfterRejection::Stop => self.stop(Reason::DeAuthorized, None, now),
            AfterRejection::Suspend => {
                if let State::Active(tx) = &mut self.state {
                    tracing::info!(
                        connector = self.number,
                        local = tx.local,
                        "id rejected: energy stopped"
                    );
                    tx.suspended = true;
                }
                Vec::new()
            }
        }
    }

    /// Move the running transaction (if any) to Stopping; the effect that journals its end.
    fn stop(&mut self, reason: Reason, id_tag: Option<CiString20>, now: Now) -> Vec<Effect> {
        let tx = match std::mem::replace(&mut self.state, State::Idle) {
            State::Active(tx) => tx,
            other => {
                self.state = other;
                return Vec::new();
            }
        };
        let effect = Effect::Stop {
            local: tx.local,
            meter_stop_wh: tx.register_wh,
            at: now.utc,
            reason,
            id_tag,
            cost: tx.cost.as_ref().map(CostMeter::total),
        };
        self.state = State::Stopping(tx);
        vec![effect]
    }
}
