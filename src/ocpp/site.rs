//! From the site config to the OCPP pieces: the charge point's shape and boot data, and the
//! link to the CSMS.

use super::chargepoint::Setup;
use super::link::{Backoff, LinkConfig, LinkError, Password, SecurityProfile};
use super::messages::{BootNotification, CiString20, CiString25, CiString50};
use super::profiles::{ConnectorShape, SiteShape};
use crate::config::schema::SiteConfig;
use crate::phase::Phase;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Connectors 1..N from the `[[chargers]]`, the nominal voltage and the grid limit.
pub fn site_shape(cfg: &SiteConfig) -> SiteShape {
    let connectors = cfg
        .chargers
        .iter()
        .map(|c| {
            let phases = u8::try_from(c.wiring.len().clamp(1, 3)).unwrap_or(3);
            (
                c.connector,
                ConnectorShape {
                    phases,
                    max_a: c.max_current_a,
                },
            )
        })
        .collect::<BTreeMap<_, _>>();
    SiteShape {
        nominal_voltage_v: cfg.site.nominal_voltage_v,
        connectors,
        site_max_a: cfg.site.grid_limit_a.0.min_value(),
    }
}

/// The ConnectorPhaseRotation value: `0.RST` for the site, then each three-phase connector's
/// rotation (R, S, T = the grid's L1, L2, L3), `NotApplicable` for single-phase outlets.
pub fn phase_rotation(cfg: &SiteConfig) -> String {
    let letter = |p: &Phase| match p {
        Phase::L1 => 'R',
        Phase::L2 => 'S',
        Phase::L3 => 'T',
    };
    let mut chargers: Vec<_> = cfg.chargers.iter().collect();
    chargers.sort_by_key(|c| c.connector);
    std::iter::once("0.RST".to_string())
        .chain(chargers.iter().map(|c| {
            let rotation: String = if c.wiring.len() == 3 {
                c.wiring.iter().map(letter).collect()
            } else {
                "NotApplicable".into()
            };
            format!("{}.{rotation}", c.connector)
        }))
        .collect::<Vec<_>>()
        .join(",")
}

/// The charge point's fixed facts; `unlockable` lists connectors whose driver can unlock.
pub fn setup(cfg: &SiteConfig, unlockable: BTreeSet<u32>) -> Setup {
    Setup {
        boot: BootNotification {
            charge_point_serial_number: Some(CiString25::truncated(&cfg.site.id)),
            firmware_version: Some(CiString50::truncated(env!("CARGO_PKG_VERSION"))),
            ..BootNotification::new(
                CiString20::truncated("hubgate"),
                CiString20::truncated("site controller"),
            )
        },
        shape: site_shape(cfg),
        phase_rotation: phase_rotation(cfg),
        unlockable,
        id_prefix: format!("{:08x}", rand::random::<u32>()),
        call_timeout: Duration::from_secs(30),
    }
}

/// The link to the CSMS, if `[ocpp]` is configured; reads the password file.
pub fn link_config(cfg: &SiteConfig) -> Result<Option<LinkConfig>, LinkError> {
    let Some(o) = &cfg.ocpp else {
        return Ok(None);
    };
    let profile = SecurityProfile::from_number(o.security_profile)
        .ok_or(LinkError::BadProfile(o.security_profile))?;
    let password = match &o.credentials_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| LinkError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            Some(Password::Text(text.trim().to_string()))
        }
        None => None,
    };
    let client_cert = o.client_cert_file.clone().zip(o.client_key_file.clone());
    let link = LinkConfig {
        csms_url: o.csms_url.clone(),
        identity: o.identity.clone().unwrap_or_else(|| cfg.site.id.clone()),
        profile,
        password,
        ca_file: o.ca_file.clone(),
        client_cert,
        connect_timeout: Duration::from_secs(15),
        backoff: Backoff::default(),
    };
    link.check()?;
    Ok(Some(link))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"
        [site]
        id = "depot-7"
        name = "Depot"
        grid_limit_a = [63, 60, 63]
        [[chargers]]
        name = "a"
        driver = "abb-terra-ac"
        bus = "b"
        unit = 1
        max_current_a = 32
        connector = 1
        wiring = ["L2", "L3", "L1"]
        [[chargers]]
        name = "b"
        driver = "abb-terra-ac"
        bus = "b"
        unit = 2
        max_current_a = 16
        connector = 2
        wiring = ["L3"]
        [ocpp]
        csms_url = "ws://127.0.0.1:9/ocpp"
        security_profile = 0
    "#;

    #[test]
    fn shape_rotation_and_link_from_the_config() {
        let cfg: SiteConfig = toml::from_str(SITE).unwrap();
        let shape = site_shape(&cfg);
        assert_eq!(shape.site_max_a, 60.0);
        assert_eq!(
            shape.connectors[&1],
            ConnectorShape {
                phases: 3,
                max_a: 32.0
            }
        );
        assert_eq!(shape.connectors[&2].phases, 1);
        assert_eq!(phase_rotation(&cfg), "0.RST,1.STR,2.NotApplicable");
        let link = link_config(&cfg).unwrap().unwrap();
        assert_eq!(link.url(), "ws://127.0.0.1:9/ocpp/depot-7");
        assert_eq!(link.profile, SecurityProfile::None);
        let s = setup(&cfg, BTreeSet::new());
        assert_eq!(
            s.boot.charge_point_serial_number.unwrap().as_str(),
            "depot-7"
        );
    }
}
