//! The site config schema: what an installer writes in `site.toml`.
//!
//! Every key is lowercase snake_case (environment overrides `HUBGATE__SECTION__KEY` are lowercased
//! by the loader). Units are part of the key names (`_a`, `_v`, `_s`, `_ms`, `_kwh`).
//! Cross-references (bus, driver, circuit, meter names) are checked in [`super::validate`].

use crate::phase::{PerPhase, Phase};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// The whole site config file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub site: Site,
    #[serde(default)]
    pub control: Control,
    #[serde(default)]
    pub buses: Vec<Bus>,
    #[serde(default)]
    pub circuits: Vec<Circuit>,
    #[serde(default)]
    pub meters: Vec<Meter>,
    #[serde(default)]
    pub chargers: Vec<Charger>,
    #[serde(default)]
    pub ocpp: Option<Ocpp>,
    #[serde(default)]
    pub mqtt: Option<Mqtt>,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub tariff: Option<Tariff>,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub drivers: DriverSearch,
}

/// The top-level sections, in the order they are documented.
pub const SECTIONS: &[&str] = &[
    "site", "control", "buses", "circuits", "meters", "chargers", "ocpp", "mqtt", "storage",
    "auth", "tariff", "log", "drivers",
];

/// `[site]`: the grid connection and the safety settings of the whole site.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Short machine id (letters, digits, `-`, `_`): used in MQTT topics and as default OCPP identity.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Current limit of the grid connection, per phase (A): one number for all phases or `[L1, L2, L3]`.
    pub grid_limit_a: PhaseLimit,
    /// The meter measuring the grid connection (a `[[meters]]` name). Without it, only the chargers'
    /// own draw is known and the site is balanced against the limit with no building load.
    #[serde(default)]
    pub grid_meter: Option<String>,
    /// Nominal phase-to-neutral voltage (V), for power <-> current conversions.
    #[serde(default = "default_voltage")]
    pub nominal_voltage_v: f64,
    /// Headroom kept below every circuit limit (A).
    #[serde(default = "default_margin")]
    pub safety_margin_a: f64,
    /// Current every charger under a circuit falls back to when that circuit's meter is stale (A).
    /// 0 pauses them.
    #[serde(default = "default_fallback")]
    pub fallback_current_a: f64,
}

fn default_voltage() -> f64 {
    230.0
}
fn default_margin() -> f64 {
    1.0
}
fn default_fallback() -> f64 {
    6.0
}

/// `[control]`: timing of the control loop.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Control {
    /// Control cycle period (ms).
    pub cycle_ms: u64,
    /// A meter reading older than this (s) is stale: chargers under it drop to the fallback current.
    pub meter_stale_s: f64,
    /// Increases are ramped at this rate (A per second); cuts apply at once.
    pub ramp_up_a_per_s: f64,
    /// Setpoint changes smaller than this (A) are not sent, to keep chargers from flapping.
    pub hysteresis_a: f64,
    /// When there is not enough current for every car's minimum, paused sessions rotate this often (s).
    pub rotation_period_s: u64,
    /// How a charger that stops answering is counted: at its last setpoint or at its max current.
    pub lost_charger_counts_as: LostChargerPolicy,
    /// Count a car that draws on fewer phases than its charger has (a one-phase car on a
    /// three-phase charger) only on the phases it draws on, as measured by the charger.
    pub car_phase_detection: bool,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            cycle_ms: 1000,
            meter_stale_s: 5.0,
            ramp_up_a_per_s: 4.0,
            hysteresis_a: 0.5,
            rotation_period_s: 900,
            lost_charger_counts_as: LostChargerPolicy::LastSetpoint,
            car_phase_detection: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LostChargerPolicy {
    LastSetpoint,
    Max,
}

/// `[[buses]]`: one physical Modbus bus (a serial port or a TCP endpoint).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bus {
    pub name: String,
    pub kind: BusKind,
    /// tcp / rtu_over_tcp: host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// tcp / rtu_over_tcp: port (default 502).
    #[serde(default)]
    pub port: Option<u16>,
    /// rtu: serial device, e.g. `/dev/ttyUSB0` (prefer `/dev/serial/by-id/...`).
    #[serde(default)]
    pub device: Option<PathBuf>,
    /// rtu: baud rate.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// rtu: parity.
    #[serde(default)]
    pub parity: Parity,
    /// rtu: stop bits (1 or 2).
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// rtu: data bits (7 or 8).
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// Time allowed for one request (ms).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// rtu: silent interval between transactions (ms); default 3.5 character times.
    #[serde(default)]
    pub inter_frame_delay_ms: Option<f64>,
}

fn default_baud() -> u32 {
    9600
}
fn default_stop_bits() -> u8 {
    1
}
fn default_data_bits() -> u8 {
    8
}
fn default_timeout_ms() -> u64 {
    500
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    Tcp,
    Rtu,
    RtuOverTcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    #[default]
    None,
    Even,
    Odd,
}

/// `[[circuits]]`: a sub-distribution circuit below the grid connection (or below another circuit).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Circuit {
    pub name: String,
    /// The circuit this one is fed from; absent = the grid connection.
    #[serde(default)]
    pub parent: Option<String>,
    /// Breaker/cable limit per phase (A).
    pub limit_a: PhaseLimit,
    /// A meter measuring this circuit's total current.
    #[serde(default)]
    pub meter: Option<String>,
}

/// `[[meters]]`: an energy meter on a bus.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Meter {
    pub name: String,
    pub driver: String,
    pub bus: String,
    pub unit: u8,
    /// Grid phase of each of the meter's phases, default `["L1", "L2", "L3"]`.
    #[serde(default = "three_phase")]
    pub wiring: Vec<Phase>,
}

/// `[[chargers]]`: one charger outlet (an OCPP connector of the site).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Charger {
    pub name: String,
    pub driver: String,
    pub bus: String,
    pub unit: u8,
    /// The circuit feeding it; absent = directly on the grid connection.
    #[serde(default)]
    pub circuit: Option<String>,
    /// Grid phase of each of the charger's phases: `["L1"]` for a 1-phase charger on L1,
    /// `["L2", "L3", "L1"]` for a 3-phase charger installed with phase rotation.
    #[serde(default = "three_phase")]
    pub wiring: Vec<Phase>,
    /// Lowest current a car can charge at (A); IEC 61851 allows no less than 6 A.
    #[serde(default = "default_min_current")]
    pub min_current_a: f64,
    /// Highest current this outlet may get (A): cable, breaker and charger rating.
    pub max_current_a: f64,
    /// Higher priority is served first.
    #[serde(default)]
    pub priority: i32,
    /// OCPP connector number at the CSMS (1..N without gaps).
    pub connector: u32,
}

fn three_phase() -> Vec<Phase> {
    Phase::ALL.to_vec()
}
fn default_min_current() -> f64 {
    6.0
}

/// `[ocpp]`: the uplink to the cloud CSMS.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ocpp {
    /// `ws://` or `wss://` URL; the identity is appended as the last path segment.
    pub csms_url: String,
    /// Charge point identity at the CSMS; default: the site id.
    #[serde(default)]
    pub identity: Option<String>,
    /// 0: no authentication (labs only), 1: basic auth over ws, 2: TLS + basic auth,
    /// 3: TLS with a client certificate.
    #[serde(default = "default_security_profile")]
    pub security_profile: u8,
    /// File holding the basic-auth password (profiles 1 and 2), readable by the service only.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// CA bundle to verify the CSMS certificate; default: the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (profile 3).
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
}

fn default_security_profile() -> u8 {
    1
}

/// `[mqtt]`: telemetry, alerts and commands.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mqtt {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub broker: String,
    /// File with `username` and `password` lines, readable by the service only.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// CA bundle for `mqtts://`; default: the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Topic prefix; default `hubgate/<site id>`.
    #[serde(default)]
    pub topic_prefix: Option<String>,
    /// Publish Home Assistant MQTT discovery records.
    #[serde(default)]
    pub home_assistant: bool,
    /// File with a shared secret: when set, only commands signed with it (HMAC-SHA256) are taken.
    #[serde(default)]
    pub command_hmac_key_file: Option<PathBuf>,
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// SQLite database; default `$STATE_DIRECTORY/hubgate.db`, else `/var/lib/hubgate/hubgate.db`.
    pub database: Option<PathBuf>,
    /// Status changes, site samples and alerts older than this (days) are pruned.
    pub history_days: u32,
    /// Site samples keep their full resolution this long (days), then are merged into 15-minute
    /// buckets.
    pub full_resolution_days: u32,
    /// Finished sessions older than this (days) are pruned, once all their messages are settled.
    pub sessions_days: u32,
    /// What charging does while the database cannot be written.
    pub on_failure: StorageFailure,
    /// A database that cannot be used is reopened after 1 s, then after doubling waits of at
    /// most this many seconds.
    pub reopen_max_s: u32,
}

/// `[storage] on_failure`: charging while the database cannot be written. Load management runs
/// on either way; starts and stops that cannot be journaled are kept in memory, in order, and
/// journaled once the database can be written again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StorageFailure {
    /// Running transactions go on; chargers without one are paused until the journal works.
    #[default]
    PauseNewSessions,
    /// New sessions start too; their transactions exist only in memory until journaled, and are
    /// lost (unbilled) if hubgate stops before the database recovers.
    ChargeUnbilled,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            database: None,
            history_days: 365,
            full_resolution_days: 7,
            sessions_days: 730,
            on_failure: StorageFailure::default(),
            reopen_max_s: 60,
        }
    }
}

/// `[auth]`: what happens when the CSMS cannot be asked.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Accept ids found valid in the local list or the cache while offline.
    pub local_authorize_offline: bool,
    /// Start from the local list/cache without asking the CSMS, even online.
    pub local_pre_authorize: bool,
    /// Let unknown ids charge while offline, within the risk caps below.
    pub allow_offline_tx_for_unknown_id: bool,
    /// An unknown id's offline session stops after this much energy (kWh).
    pub unknown_id_max_energy_kwh: f64,
    /// ... or after this long (minutes).
    pub unknown_id_max_duration_min: f64,
    /// Free vend: every plug-in starts a transaction with this idTag, without authorization
    /// (for chargers without a card reader). Absent: ids are authorized.
    pub free_vend_id_tag: Option<String>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            local_authorize_offline: true,
            local_pre_authorize: false,
            allow_offline_tx_for_unknown_id: false,
            unknown_id_max_energy_kwh: 20.0,
            unknown_id_max_duration_min: 240.0,
            free_vend_id_tag: None,
        }
    }
}

/// `[tariff]`: local prices, so every session has a cost even offline.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    #[serde(default)]
    pub price_per_kwh: f64,
    #[serde(default)]
    pub price_per_minute: f64,
    #[serde(default)]
    pub session_fee: f64,
    /// Time-of-use bands (site local time); where a band applies its prices replace the base ones.
    #[serde(default)]
    pub bands: Vec<TariffBand>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TariffBand {
    pub name: String,
    /// Days the band applies on: `mon` .. `sun`; default every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// `HH:MM`, inclusive.
    pub start: String,
    /// `HH:MM`, exclusive; an end before the start runs past midnight.
    pub end: String,
    pub price_per_kwh: f64,
    #[serde(default)]
    pub price_per_minute: Option<f64>,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// A tracing filter (`info`, `hubgate=debug,warn`); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".into(),
        }
    }
}

/// `[drivers]`: where to find driver files besides the built-in ones.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriverSearch {
    /// Directories searched for `*.toml` driver files; a file there overrides a built-in driver of
    /// the same name.
    pub dirs: Vec<PathBuf>,
}

/// A per-phase current limit: one number for all three phases or `[L1, L2, L3]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(into = "Vec<f64>")]
pub struct PhaseLimit(pub PerPhase<f64>);

impl From<PhaseLimit> for Vec<f64> {
    fn from(l: PhaseLimit) -> Vec<f64> {
        l.0.0.to_vec()
    }
}

impl<'de> Deserialize<'de> for PhaseLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PhaseLimit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a current in A, or a list of three currents [L1, L2, L3]")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PhaseLimit, E> {
                Ok(PhaseLimit(PerPhase::splat(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PhaseLimit, E> {
                Ok(PhaseLimit(PerPhase::splat(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PhaseLimit, E> {
                Ok(PhaseLimit(PerPhase::splat(v as f64)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PhaseLimit, A::Error> {
                let mut out = [0.0; 3];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element::<f64>()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                if seq.next_element::<f64>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(PhaseLimit(PerPhase(out)))
            }
        }
        d.deserialize_any(V)
    }
}
