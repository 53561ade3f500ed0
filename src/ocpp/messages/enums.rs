//! OCPP 1.6 enumerations, spelled as on the wire.

use serde::{Deserialize, Serialize};

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident $(= $wire:literal)?),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[serde(rename = $wire)])? $variant),+
        }
    };
}

wire_enum!(
    /// Answer status of an idTag.
    AuthorizationStatus { Accepted, Blocked, Expired, Invalid, ConcurrentTx }
);
wire_enum!(RegistrationStatus {
    Accepted,
    Pending,
    Rejected
});
wire_enum!(AvailabilityType {
    Inoperative,
    Operative
});
wire_enum!(AvailabilityStatus {
    Accepted,
    Rejected,
    Scheduled
});
wire_enum!(ConfigurationStatus {
    Accepted,
    Rejected,
    RebootRequired,
    NotSupported
});
wire_enum!(ClearCacheStatus { Accepted, Rejected });
wire_enum!(DataTransferStatus {
    Accepted,
    Rejected,
    UnknownMessageId,
    UnknownVendorId
});
wire_enum!(RemoteStartStopStatus { Accepted, Rejected });
wire_enum!(ResetType { Hard, Soft });
wire_enum!(ResetStatus { Accepted, Rejected });
wire_enum!(UnlockStatus {
    Unlocked,
    UnlockFailed,
    NotSupported
});
wire_enum!(
    /// Connector state reported in StatusNotification.
    ChargePointStatus {
        Available, Preparing, Charging, SuspendedEVSE, SuspendedEV, Finishing, Reserved,
        Unavailable, Faulted,
    }
);
wire_enum!(
    /// Fault reported with a StatusNotification (`NoError` when healthy).
    ChargePointErrorCode {
        ConnectorLockFailure, EVCommunicationError, GroundFailure, HighTemperature,
        InternalError, LocalListConflict, NoError, OtherError, OverCurrentFailure,
        PowerMeterFailure, PowerSwitchFailure, ReaderFailure, ResetFailure, UnderVoltage,
        OverVoltage, WeakSignal,
    }
);
wire_enum!(
    /// Why a transaction stopped.
    Reason {
        EmergencyStop, EVDisconnected, HardReset, Local, Other, PowerLoss, Reboot, Remote,
        SoftReset, UnlockCommand, DeAuthorized,
    }
);
wire_enum!(ReadingContext {
    InterruptionBegin = "Interruption.Begin",
    InterruptionEnd = "Interruption.End",
    SampleClock = "Sample.Clock",
    SamplePeriodic = "Sample.Periodic",
    TransactionBegin = "Transaction.Begin",
    TransactionEnd = "Transaction.End",
    Trigger,
    Other,
});
wire_enum!(ValueFormat { Raw, SignedData });
wire_enum!(Measurand {
    EnergyActiveExportRegister = "Energy.Active.Export.Register",
    EnergyActiveImportRegister = "Energy.Active.Import.Register",
    EnergyReactiveExportRegister = "Energy.Reactive.Export.Register",
    EnergyReactiveImportRegister = "Energy.Reactive.Import.Register",
    EnergyActiveExportInterval = "Energy.Active.Export.Interval",
    EnergyActiveImportInterval = "Energy.Active.Import.Interval",
    EnergyReactiveExportInterval = "Energy.Reactive.Export.Interval",
    EnergyReactiveImportInterval = "Energy.Reactive.Import.Interval",
    PowerActiveExport = "Power.Active.Export",
    PowerActiveImport = "Power.Active.Import",
    PowerOffered = "Power.Offered",
    PowerReactiveExport = "Power.Reactive.Export",
    PowerReactiveImport = "Power.Reactive.Import",
    PowerFactor = "Power.Factor",
    CurrentImport = "Current.Import",
    CurrentExport = "Current.Export",
    CurrentOffered = "Current.Offered",
    Voltage,
    Frequency,
    Temperature,
    SoC,
    RPM,
});
wire_enum!(PhaseLabel {
    L1, L2, L3, N,
    L1N = "L1-N",
    L2N = "L2-N",
    L3N = "L3-N",
    L1L2 = "L1-L2",
    L2L3 = "L2-L3",
    L3L1 = "L3-L1",
});
wire_enum!(Location {
    Cable,
    EV,
    Inlet,
    Outlet,
    Body
});
wire_enum!(UnitOfMeasure {
    Wh, KWh = "kWh", Varh = "varh", Kvarh = "kvarh", W, KW = "kW", VA, KVA = "kVA",
    Var = "var", Kvar = "kvar", A, V, K, Celcius, Celsius, Fahrenheit, Percent,
});
wire_enum!(ChargingProfilePurpose {
    ChargePointMaxProfile,
    TxDefaultProfile,
    TxProfile
});
wire_enum!(ChargingProfileKind {
    Absolute,
    Recurring,
    Relative
});
wire_enum!(RecurrencyKind { Daily, Weekly });
wire_enum!(ChargingRateUnit { A, W });
wire_enum!(ChargingProfileStatus {
    Accepted,
    Rejected,
    NotSupported
});
wire_enum!(ClearChargingProfileStatus { Accepted, Unknown });
wire_enum!(GetCompositeScheduleStatus { Accepted, Rejected });
wire_enum!(MessageTrigger {
    BootNotification,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    Heartbeat,
    MeterValues,
    StatusNotification,
});
wire_enum!(TriggerMessageStatus {
    Accepted,
    Rejected,
    NotImplemented
});
wire_enum!(UpdateType { Differential, Full });
wire_enum!(UpdateStatus {
    Accepted,
    Failed,
    NotSupported,
    VersionMismatch
});

impl Measurand {
    /// The measurand named as in the `MeterValuesSampledData` family of keys.
    pub fn from_wire(s: &str) -> Option<Measurand> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    pub fn to_wire(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_round_trip() {
        let m = Measurand::from_wire("Energy.Active.Import.Register").unwrap();
        assert_eq!(m, Measurand::EnergyActiveImportRegister);
        assert_eq!(m.to_wire(), "Energy.Active.Import.Register");
        assert_eq!(Measurand::from_wire("energy.active.import.register"), None);
        let p: PhaseLabel = serde_json::from_str("\"L1-N\"").unwrap();
        assert_eq!(p, PhaseLabel::L1N);
        assert_eq!(
            serde_json::to_string(&UnitOfMeasure::KWh).unwrap(),
            "\"kWh\""
        );
    }
}
