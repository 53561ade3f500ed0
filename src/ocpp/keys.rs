//! The standard OCPP 1.6 configuration keys (Core, Local Auth List Management, Smart Charging)
//! behind a [`ConfigStore`] that persists the writable ones.

use super::messages::{CiString50, CiString500, ConfigurationStatus, KeyValue, Measurand};
use std::collections::BTreeMap;

/// Where writable key values live (e.g. a settings table). Keys are the canonical names.
pub trait ConfigStore {
    fn get(&self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigStoreError>;
}

/// The store could not persist a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration store: {0}")]
pub struct ConfigStoreError(pub String);

/// A [`ConfigStore`] in memory (tests, or a site without a database).
#[derive(Debug, Clone, Default)]
pub struct MemoryConfigStore(pub BTreeMap<String, String>);

impl ConfigStore for MemoryConfigStore {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigStoreError> {
        self.0.insert(key.to_string(), value.to_string());
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    /// A non-negative integer up to the bound.
    Int(u32),
    /// A comma-separated list of measurands we can measure, at most `MAX_MEASURANDS`.
    Measurands,
    /// Fixed text.
    Text,
}

struct Def {
    name: &'static str,
    kind: Kind,
    writable: bool,
    default: &'static str,
}

const fn rw(name: &'static str, kind: Kind, default: &'static str) -> Def {
    Def {
        name,
        kind,
        writable: true,
        default,
    }
}
const fn ro(name: &'static str, kind: Kind, default: &'static str) -> Def {
    Def {
        name,
        kind,
        writable: false,
        default,
    }
}

/// Longest measurand list accepted by the `*Data` keys.
pub const MAX_MEASURANDS: usize = 8;
const SECONDS: Kind = Kind::Int(86_400 * 7);

const DEFS: &[Def] = &[
    rw("AllowOfflineTxForUnknownId", Kind::Bool, "false"),
    rw("AuthorizationCacheEnabled", Kind::Bool, "true"),
    rw("AuthorizeRemoteTxRequests", Kind::Bool, "false"),
    rw("ClockAlignedDataInterval", SECONDS, "0"),
    rw("ConnectionTimeOut", SECONDS, "60"),
    ro("GetConfigurationMaxKeys", Kind::Int(100), "50"),
    rw("HeartbeatInterval", SECONDS, "300"),
    rw("LocalAuthorizeOffline", Kind::Bool, "true"),
    rw("LocalPreAuthorize", Kind::Bool, "false"),
    rw("MaxEnergyOnInvalidId", Kind::Int(1_000_000), "0"),
    rw(
        "MeterValuesAlignedData",
        Kind::Measurands,
        "Energy.Active.Import.Register",
    ),
    ro("MeterValuesAlignedDataMaxLength", Kind::Int(100), "8"),
    rw(
        "MeterValuesSampledData",
        Kind::Measurands,
        "Energy.Active.Import.Register",
    ),
    ro("MeterValuesSampledDataMaxLength", Kind::Int(100), "8"),
    rw("MeterValueSampleInterval", SECONDS, "60"),
    rw("ResetRetries", Kind::Int(10), "1"),
    ro("StopTransactionOnEVSideDisconnect", Kind::Bool, "true"),
    rw("StopTransactionOnInvalidId", Kind::Bool, "true"),
    rw("StopTxnAlignedData", Kind::Measurands, ""),
    ro("StopTxnAlignedDataMaxLength", Kind::Int(100), "8"),
    rw("StopTxnSampledData", Kind::Measurands, ""),
    ro("StopTxnSampledDataMaxLength", Kind::Int(100), "8"),
    ro(
        "SupportedFeatureProfiles",
        Kind::Text,
        "Core,SmartCharging,RemoteTrigger,LocalAuthListManagement",
    ),
    rw("TransactionMessageAttempts", Kind::Int(100), "3"),
    rw("TransactionMessageRetryInterval", SECONDS, "60"),
    ro("UnlockConnectorOnEVSideDisconnect", Kind::Bool, "true"),
    rw("WebSocketPingInterval", SECONDS, "60"),
    rw("LocalAuthListEnabled", Kind::Bool, "true"),
    ro("LocalAuthListMaxLength", Kind::Int(100_000), "10000"),
    ro("SendLocalListMaxLength", Kind::Int(100_000), "1000"),
    ro("ChargeProfileMaxStackLevel", Kind::Int(1000), "10"),
    ro(
        "ChargingScheduleAllowedChargingRateUnit",
        Kind::Text,
        "Current,Power",
    ),
    ro("ChargingScheduleMaxPeriods", Kind::Int(1000), "48"),
    ro("MaxChargingProfilesInstalled", Kind::Int(1000), "32"),
];

/// Measurands the site's meters provide.
pub const SUPPORTED_MEASURANDS: &[Measurand] = &[
    Measurand::EnergyActiveImportRegister,
    Measurand::PowerActiveImport,
    Measurand::CurrentImport,
    Measurand::CurrentOffered,
    Measurand::Voltage,
    Measurand::SoC,
];

/// The charge point's configuration: the key catalogue over a store.
pub struct Configuration {
    store: Box<dyn ConfigStore + Send>,
    /// Read-only keys whose value comes from the site (NumberOfConnectors, ...).
    fixed: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for Configuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configuration")
            .field("fixed", &self.fixed)
            .finish_non_exhaustive()
    }
}

fn def(key: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name.eq_ignore_ascii_case(key))
}

impl Configuration {
    /// `connectors` is N; `phase_rotation` the ConnectorPhaseRotation value (e.g. `1.RST,2.STR`).
    pub fn new(store: Box<dyn ConfigStore + Send>, connectors: u32, phase_rotation: &str) -> Self {
        let fixed = BTreeMap::from([
            ("NumberOfConnectors", connectors.to_string()),
            ("ConnectorPhaseRotation", phase_rotation.to_string()),
        ]);
        Configuration { store, fixed }
    }

    /// The value of a key (canonical or any case), and whether it is read-only.
    pub fn get(&self, key: &str) -> Option<(String, bool)> {
        if let Some((_, v)) = self.fixed.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Some((v.clone(), true));
        }
        let d = def(key)?;
        let v = if d.writable {
            self.store.get(d.name)
        } else {
            None
        };
        Some((v.unwrap_or_else(|| d.default.to_string()), !d.writable))
    }

    pub fn int(&self, key: &str) -> u32 {
        self.get(key).and_then(|(v, _)| v.parse().ok()).unwrap_or(0)
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|(v, _)| v.eq_ignore_ascii_case("true"))
    }

    pub fn measurands(&self, key: &str) -> Vec<Measurand> {
        self.get(key)
            .map(|(v, _)| parse_measurands(&v).unwrap_or_default())
            .unwrap_or_default()
    }

    /// GetConfiguration: every key when `keys` is empty; unknown keys listed apart.
    pub fn report(&self, keys: &[CiString50]) -> (Vec<KeyValue>, Vec<CiString50>) {
        let names: Vec<String> = if keys.is_empty() {
            let mut all: Vec<String> = DEFS.iter().map(|d| d.name.to_string()).collect();
            all.extend(self.fixed.keys().map(|k| k.to_string()));
            all
        } else {
            keys.iter().map(|k| k.as_str().to_string()).collect()
        };
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for name in names {
            match self.get(&name) {
                Some((value, readonly)) => known.push(KeyValue {
                    key: CiString50::truncated(canonical(&name).unwrap_or(&name)),
                    readonly,
                    value: Some(CiString500::truncated(&value)),
                }),
                None => unknown.push(CiString50::truncated(&name)),
            }
        }
        (known, unknown)
    }

    /// ChangeConfiguration: read-only keys and invalid values are Rejected, unknown keys
    /// NotSupported; an accepted value is persisted.
    pub fn change(&mut self, key: &str, value: &str) -> ConfigurationStatus {
        if self.fixed.keys().any(|k| k.eq_ignore_ascii_case(key)) {
            return ConfigurationStatus::Rejected;
        }
        let Some(d) = def(key) else {
            return ConfigurationStatus::NotSupported;
        };
        if !d.writable {
            return ConfigurationStatus::Rejected;
        }
        let Some(value) = normalize(d.kind, value) else {
            return ConfigurationStatus::Rejected;
        };
        match self.store.set(d.name, &value) {
            Ok(()) => ConfigurationStatus::Accepted,
            Err(e) => {
                tracing::warn!(key = d.name, "configuration not saved: {e}");
                ConfigurationStatus::Rejected
            }
        }
    }
}

/// The canonical spelling of a known key.
pub fn canonical(key: &str) -> Option<&'static str> {
    def(key)
        .map(|d| d.name)
        .or(match key.to_ascii_lowercase().as_str() {
            "numberofconnectors" => Some("NumberOfConnectors"),
            "connectorphaserotation" => Some("ConnectorPhaseRotation"),
            _ => None,
        })
}

fn normalize(kind: Kind, value: &str) -> Option<String> {
    let value = value.trim();
    match kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            v @ ("true" | "false") => Some(v.to_string()),
            _ => None,
        },
        Kind::Int(max) => value
            .parse::<u32>()
            .ok()
            .filter(|v| *v <= max)
            .map(|v| v.to_string()),
        Kind::Measurands => {
            let list = parse_measurands(value)?;
            Some(
                list.iter()
                    .map(|m| m.to_wire())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        }
        Kind::Text => None,
    }
}

/// A measurand list, if every entry is one we can measure and there are few enough.
pub fn parse_measurands(value: &str) -> Option<Vec<Measurand>> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let m = Measurand::from_wire(item).filter(|m| SUPPORTED_MEASURANDS.contains(m))?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    (out.len() <= MAX_MEASURANDS).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Configuration {
        Configuration::new(Box::new(MemoryConfigStore::default()), 4, "1.RST,2.RST")
    }

    #[test]
    fn change_rules() {
        let mut c = config();
        use ConfigurationStatus::*;
        assert_eq!(c.change("HeartbeatInterval", "120"), Accepted);
        assert_eq!(c.int("HeartbeatInterval"), 120);
        assert_eq!(c.change("heartbeatinterval", "-5"), Rejected);
        assert_eq!(c.change("HeartbeatInterval", "soon"), Rejected);
        assert_eq!(c.int("HeartbeatInterval"), 120);
        assert_eq!(c.change("NumberOfConnectors", "9"), Rejected);
        assert_eq!(c.change("SupportedFeatureProfiles", "Core"), Rejected);
        assert_eq!(c.change("NoSuchKey", "1"), NotSupported);
        assert_eq!(c.change("LocalPreAuthorize", "TRUE"), Accepted);
        assert!(c.flag("LocalPreAuthorize"));
        assert_eq!(c.change("LocalPreAuthorize", "yes"), Rejected);
        assert_eq!(
            c.change(
                "MeterValuesSampledData",
                "Energy.Active.Import.Register,Current.Import"
            ),
            Accepted
        );
        assert_eq!(
            c.measurands("MeterValuesSampledData"),
            vec![
                Measurand::EnergyActiveImportRegister,
                Measurand::CurrentImport
            ]
        );
        assert_eq!(
            c.change(
                "MeterValuesSampledData",
                "Energy.Active.Import.Register,RPM"
            ),
            Rejected
        );
        assert_eq!(c.measurands("MeterValuesSampledData").len(), 2);
    }

    #[test]
    fn report_all_or_some() {
        let c = config();
        let (all, unknown) = c.report(&[]);
        assert!(unknown.is_empty());
        assert!(all.iter().any(|k| k.key.as_str() == "NumberOfConnectors"
            && k.readonly
            && k.value.as_ref().unwrap().as_str() == "4"));
        assert!(
            all.iter()
                .any(|k| k.key.as_str() == "WebSocketPingInterval" && !k.readonly)
        );
        let ask = [
            CiString50::new("heartbeatInterval").unwrap(),
            CiString50::new("Bogus").unwrap(),
        ];
        let (known, unknown) = c.report(&ask);
        assert_eq!(known[0].key.as_str(), "HeartbeatInterval");
        assert_eq!(unknown[0].as_str(), "Bogus");
    }
}
