//! A charge point over in-memory stores, for tests and the frame fuzzer: two 32 A three-phase
//! connectors on a 50 A site, connector 1 able to unlock its cable.

use super::{ChargePoint, Output, SiteEvent};
use crate::clock::Moment;
use crate::ocpp::keys::{Configuration, MemoryConfigStore};
use crate::ocpp::local_list::MemoryLocalList;
use crate::ocpp::messages::{
    BootNotification, ChargePointErrorCode, ChargePointStatus, CiString20,
};
use crate::ocpp::outbox::MemoryOutbox;
use crate::ocpp::profiles::{ConnectorShape, SiteShape};
use chrono::SecondsFormat;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use super::Setup;

fn text20(s: &str) -> Result<CiString20, String> {
    CiString20::new(s).map_err(|e| e.to_string())
}

/// The lab charge point, freshly started and not yet connected.
pub fn lab(now: Moment) -> Result<ChargePoint, String> {
    let three_phase_32a = ConnectorShape {
        phases: 3,
        max_a: 32.0,
    };
    let shape = SiteShape {
        nominal_voltage_v: 230.0,
        connectors: BTreeMap::from([(1, three_phase_32a), (2, three_phase_32a)]),
        site_max_a: 50.0,
    };
    let setup = Setup {
        boot: BootNotification::new(text20("hubgate")?, text20("site")?),
        shape,
        phase_rotation: "1.RST,2.RST".into(),
        unlockable: BTreeSet::from([1]),
        id_prefix: "test".into(),
        call_timeout: std::time::Duration::from_secs(30),
    };
    let config = Configuration::new(Box::new(MemoryConfigStore::default()), 2, "1.RST,2.RST");
    Ok(ChargePoint::new(
        setup,
        config,
        Box::new(MemoryOutbox::default()),
        Box::new(MemoryLocalList::default()),
        now,
    ))
}

/// The frames in `out`, as JSON.
pub fn sent_frames(out: &[Output]) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(s) => serde_json::from_str(s).ok(),
            _ => None,
        })
        .collect()
}

/// The lab charge point with every connector Available, connected, its boot accepted and the
/// statuses of connectors 0, 1 and 2 acknowledged: nothing outstanding.
pub fn online(now: Moment) -> Result<ChargePoint, String> {
    let mut cp = lab(now)?;
    for connector in 0..=2 {
        cp.on_site(
            SiteEvent::ConnectorStatus {
                connector,
                status: ChargePointStatus::Available,
                error_code: ChargePointErrorCode::NoError,
                info: None,
                vendor_error_code: None,
            },
            now,
        );
    }
    let clock = now.wall.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut out = cp.on_connected(now);
    let mut expected = vec![("BootNotification", None)];
    expected.extend((0..=2).map(|c| ("StatusNotification", Some(c))));
    for (action, connector) in expected {
        let calls: Vec<Value> = sent_frames(&out)
            .into_iter()
            .filter(|f| f[0] == 2)
            .collect();
        let [call] = calls.as_slice() else {
            return Err(format!("expected one {action} CALL, got {out:?}"));
        };
        if call[2] != action || call[3]["connectorId"].as_i64() != connector {
            return Err(format!("expected {action} {connector:?}, got {call}"));
        }
        let answer = if action == "BootNotification" {
            json!({"status": "Accepted", "currentTime": clock, "interval": 300})
        } else {
            json!({})
        };
        out = cp.on_text(&json!([3, call[1], answer]).to_string(), now);
    }
    if sent_frames(&out).is_empty() {
        Ok(cp)
    } else {
        Err(format!("unexpected frames once online: {out:?}"))
    }
}
