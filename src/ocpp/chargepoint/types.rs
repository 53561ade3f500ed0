//! What goes into and comes out of the charge point logic.

use crate::ocpp::messages::{
    AvailabilityType, BootNotification, ChargePointErrorCode, ChargePointStatus, CiString20,
    IdTagInfo, Reason, ResetType,
};
use crate::ocpp::metering::MeterReading;
use crate::ocpp::outbox::LocalTxId;
use crate::ocpp::profiles::{ActiveTx, Limits, ProfileStore, SiteShape};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Fixed facts about the site as a charge point.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The BootNotification payload (vendor, model, serial, firmware).
    pub boot: BootNotification,
    /// Connectors 1..N with phases and limits; nominal voltage; grid limit.
    pub shape: SiteShape,
    /// ConnectorPhaseRotation value, e.g. `1.RST,2.STR`.
    pub phase_rotation: String,
    /// Connectors whose charger can unlock its cable on command.
    pub unlockable: BTreeSet<u32>,
    /// Prefix of our message ids, different on every start (e.g. random hex).
    pub id_prefix: String,
    /// How long to wait for the CSMS to answer a CALL.
    pub call_timeout: Duration,
}

/// Something that happened at the site.
#[derive(Debug, Clone, PartialEq)]
pub enum SiteEvent {
    /// A connector's state (connector 0: the site as a whole).
    ConnectorStatus {
        connector: u32,
        status: ChargePointStatus,
        error_code: ChargePointErrorCode,
        info: Option<String>,
        vendor_error_code: Option<String>,
    },
    /// An idTag was presented at a connector (or at the site's reader).
    IdPresented {
        connector: Option<u32>,
        id_tag: CiString20,
    },
    /// Charging started (already recorded by the journal).
    TransactionStarted {
        local: LocalTxId,
        connector: u32,
        id_tag: CiString20,
        meter_start_wh: f64,
        at: DateTime<Utc>,
        reservation_id: Option<i32>,
    },
    /// Charging stopped (already recorded by the journal).
    TransactionStopped {
        local: LocalTxId,
        meter_stop_wh: f64,
        at: DateTime<Utc>,
        reason: Reason,
        id_tag: Option<CiString20>,
    },
    /// The latest reading of a connector's meter (connector 0: the grid meter).
    Meter {
        connector: u32,
        reading: MeterReading,
    },
    /// The answer to [`SiteCommand::Unlock`].
    UnlockResult { connector: u32, unlocked: bool },
    /// The site's own limit (grid limit minus other load), A per phase, for
    /// GetCompositeSchedule.
    LocalCap { amps: Option<f64> },
}

/// The profiles and transactions from which the load balancer reads its limits every cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargingLimits {
    pub profiles: ProfileStore,
    pub transactions: BTreeMap<u32, ActiveTx>,
}

impl ChargingLimits {
    /// The CSMS's limits at `now`: a cap on the sum of all connectors (A per phase) and a
    /// limit per connector.
    pub fn limits_at(&self, now: DateTime<Utc>) -> Limits {
        self.profiles.limits_at(now, &self.transactions)
    }
}

/// Something the site must do, or learn, because of the CSMS.
#[derive(Debug, Clone, PartialEq)]
pub enum SiteCommand {
    /// Start charging (connector chosen by the site when `None`); authorize the idTag first
    /// when `authorize_first` (AuthorizeRemoteTxRequests).
    RemoteStart {
        connector: Option<u32>,
        id_tag: CiString20,
        authorize_first: bool,
    },
    /// Stop the transaction (reason Remote).
    RemoteStop { connector: u32, local: LocalTxId },
    /// Make a connector (0: the whole site) operative or inoperative, and persist it.
    ChangeAvailability {
        connector: u32,
        kind: AvailabilityType,
    },
    /// Restart: stop transactions (reason SoftReset / HardReset), then restart the service
    /// (soft) or the gateway (hard).
    Reset { kind: ResetType },
    /// Unlock a connector's cable; answer with [`SiteEvent::UnlockResult`].
    Unlock { connector: u32 },
    /// The CSMS's charging limits changed.
    LimitsChanged(Box<ChargingLimits>),
    /// Clear the authorization cache.
    ClearCache,
    /// The answer to an idTag presented at the site; `None` when the CSMS could not be asked
    /// (offline, timeout, error): apply the offline policy.
    AuthorizeResult {
        connector: Option<u32>,
        id_tag: CiString20,
        info: Option<IdTagInfo>,
    },
    /// The CSMS answered StartTransaction: its transactionId and the idTag's status. When the
    /// status is not Accepted, `stop` (StopTransactionOnInvalidId) says whether to stop with
    /// reason DeAuthorized or only stop delivering energy.
    TransactionConfirmed {
        local: LocalTxId,
        transaction_id: i32,
        id_tag: CiString20,
        info: IdTagInfo,
        stop: bool,
    },
    /// An IdTagInfo from a StopTransaction answer, for the authorization cache.
    IdTagInfo { id_tag: CiString20, info: IdTagInfo },
}

/// One thing the charge point logic wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A websocket text frame to send.
    Send(String),
    /// A command or notice for the site.
    Site(SiteCommand),
    /// WebSocketPingInterval changed (seconds, 0 = no pings).
    PingInterval(u32),
}

/// Where the charge point stands with the CSMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// No answer to BootNotification yet.
    Unknown,
    Pending,
    Rejected,
    Accepted,
}
