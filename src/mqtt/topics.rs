//! The topic tree (pure): what is published where, from the site view. Documented in
//! `docs/mqtt.md`; payloads are JSON with units in the key names.

use super::alerts::ActiveAlert;
use super::commands::MqttLimits;
use crate::view::SiteView;
use serde_json::{Value, json};

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// The topic tree under a prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct Topics {
    pub prefix: String,
}

impl Topics {
    pub fn new(prefix: &str) -> Self {
        Topics {
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    /// `online` / `offline` (retained; the broker publishes `offline` as hubgate's last will).
    pub fn status(&self) -> String {
        format!("{}/status", self.prefix)
    }
    pub fn site_state(&self) -> String {
        format!("{}/site/state", self.prefix)
    }
    pub fn charger_state(&self, name: &str) -> String {
        format!("{}/chargers/{name}/state", self.prefix)
    }
    pub fn meter_state(&self, name: &str) -> String {
        format!("{}/meters/{name}/state", self.prefix)
    }
    pub fn ocpp_state(&self) -> String {
        format!("{}/ocpp/state", self.prefix)
    }
    pub fn limit_state(&self) -> String {
        format!("{}/limit/state", self.prefix)
    }
    pub fn alerts_active(&self) -> String {
        format!("{}/alerts/active", self.prefix)
    }
    pub fn alert_events(&self) -> String {
        format!("{}/alerts/events", self.prefix)
    }
    /// Commands are published below this (`cmd/limit`, `cmd/charger/<name>`).
    pub fn commands(&self) -> String {
        format!("{}/cmd", self.prefix)
    }
    pub fn command_filter(&self) -> String {
        format!("{}/cmd/#", self.prefix)
    }
    pub fn response(&self) -> String {
        format!("{}/cmd/response", self.prefix)
    }

    /// The retained state messages for one view.
    pub fn state(&self, view: &SiteView) -> Vec<Message> {
        let mut out = Vec::with_capacity(view.chargers.len() + view.meters.len() + 2);
        let retained = |topic: String, payload: Value| Message {
            topic,
            payload: payload.to_string(),
            retain: true,
        };
        out.push(retained(
            self.site_state(),
            json!({
                "at_ms": view.at_ms,
                "cycle": view.cycle,
                "grid_current_a": view.grid_current_a.map(|g| g.0),
                "grid_limit_a": view.grid_limit_a.0,
                "limit_source": view.limit_source,
                "fallback": view.fallback,
                "total_power_w": round(view.total_power_w),
                "chargers_charging": view.chargers.iter().filter(|c| c.status == "Charging").count(),
            }),
        ));
        for c in &view.chargers {
            out.push(retained(
                self.charger_state(&c.name),
                json!({
                    "at_ms": view.at_ms,
                    "connector": c.connector,
                    "status": c.status,
                    "iec_state": c.iec_state.map(|s| s.to_string()),
                    "reachable": c.reachable,
                    "setpoint_a": c.setpoint_a,
                    "draw_a": c.draw_a.0.map(round2),
                    "power_w": round(c.power_w),
                    "session_energy_wh": round(c.session_energy_wh),
                    "reason": c.reason,
                }),
            ));
        }
        for m in &view.meters {
            out.push(retained(
                self.meter_state(&m.name),
                json!({
                    "at_ms": view.at_ms,
                    "current_a": m.current_a.map(|c| c.0.map(round2)),
                    "stale": m.stale,
                    "invalid": m.invalid,
                }),
            ));
        }
        if let Some(u) = &view.uplink {
            out.push(retained(
                self.ocpp_state(),
                json!({
                    "state": u.state,
                    "queued_messages": u.queued_messages,
                    "oldest_queued_age_s": u.oldest_queued_age_s,
                }),
            ));
        }
        out
    }

    /// The retained set of active alerts.
    pub fn active_alerts(&self, alerts: &[ActiveAlert]) -> Message {
        Message {
            topic: self.alerts_active(),
            payload: serde_json::to_string(alerts).unwrap_or_else(|_| "[]".into()),
            retain: true,
        }
    }

    /// The retained external limit in force (`null` when none).
    pub fn limit(&self, limits: &MqttLimits) -> Message {
        let payload = match limits.site_cap {
            Some(c) => {
                json!({"limit_a": c.limit_a.0, "expires_at_ms": c.until_unix_ms, "paused": limits.paused})
            }
            None => json!({"limit_a": null, "expires_at_ms": null, "paused": limits.paused}),
        };
        Message {
            topic: self.limit_state(),
            payload: payload.to_string(),
            retain: true,
        }
    }

    /// Home Assistant MQTT discovery records for the site and each charger.
    pub fn discovery(&self, site_id: &str, site_name: &str, view: &SiteView) -> Vec<Message> {
        let device = json!({
            "identifiers": [format!("hubgate_{site_id}")],
            "name": site_name,
            "manufacturer": "hubgate",
            "model": "EV charging hub site controller",
        });
        let mut out = Vec::new();
        let mut sensor = |object: String,
                          name: String,
                          state_topic: String,
                          template: String,
                          unit: &str,
                          class: &str| {
            let config = json!({
                "name": name,
                "unique_id": format!("hubgate_{site_id}_{object}"),
                "object_id": format!("hubgate_{site_id}_{object}"),
                "state_topic": state_topic,
                "value_template": template,
                "unit_of_measurement": if unit.is_empty() { Value::Null } else { Value::from(unit) },
                "device_class": if class.is_empty() { Value::Null } else { Value::from(class) },
                "availability_topic": self.status(),
                "device": device,
            });
            out.push(Message {
                topic: format!("homeassistant/sensor/hubgate_{site_id}/{object}/config"),
                payload: config.to_string(),
                retain: true,
            });
        };
        sensor(
            "power".into(),
            "Site power".into(),
            self.site_state(),
            "{{ value_json.total_power_w }}".into(),
            "W",
            "power",
        );
        for (i, ph) in ["L1", "L2", "L3"].iter().enumerate() {
            sensor(
                format!("grid_{}", ph.to_lowercase()),
                format!("Grid current {ph}"),
                self.site_state(),
                format!(
                    "{{{{ value_json.grid_current_a[{i}] if value_json.grid_current_a else none }}}}"
                ),
                "A",
                "current",
            );
        }
        for c in &view.chargers {
            let id = sanitize(&c.name);
            let topic = self.charger_state(&c.name);
            sensor(
                format!("{id}_status"),
                format!("{} status", c.name),
                topic.clone(),
                "{{ value_json.status }}".into(),
                "",
                "",
            );
            sensor(
                format!("{id}_power"),
                format!("{} power", c.name),
                topic.clone(),
                "{{ value_json.power_w }}".into(),
                "W",
                "power",
            );
            sensor(
                format!("{id}_setpoint"),
                format!("{} setpoint", c.name),
                topic.clone(),
                "{{ value_json.setpoint_a }}".into(),
                "A",
                "current",
            );
            sensor(
                format!("{id}_energy"),
                format!("{} session energy", c.name),
                topic,
                "{{ value_json.session_energy_wh }}".into(),
                "Wh",
                "energy",
            );
        }
        out
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn round(x: f64) -> f64 {
    x.round()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::PerPhase;
    use crate::view::ChargerView;

    #[test]
    fn state_messages_cover_site_chargers_and_meters() {
        let t = Topics::new("hubgate/demo/");
        let view = SiteView {
            grid_current_a: Some(PerPhase([10.0, 11.0, 12.0])),
            chargers: vec![ChargerView {
                name: "cp-1".into(),
                status: "Charging".into(),
                setpoint_a: 16.0,
                ..ChargerView::default()
            }],
            ..SiteView::default()
        };
        let m = t.state(&view);
        assert_eq!(m[0].topic, "hubgate/demo/site/state");
        assert_eq!(m[1].topic, "hubgate/demo/chargers/cp-1/state");
        assert!(m.iter().all(|m| m.retain));
        let site: Value = serde_json::from_str(&m[0].payload).unwrap();
        assert_eq!(site["grid_current_a"], json!([10.0, 11.0, 12.0]));
        assert_eq!(site["chargers_charging"], 1);
        let c: Value = serde_json::from_str(&m[1].payload).unwrap();
        assert_eq!(c["setpoint_a"], 16.0);
        let d = t.discovery("demo", "Demo", &view);
        assert!(
            d.iter()
                .any(|m| m.topic == "homeassistant/sensor/hubgate_demo/cp_1_power/config")
        );
    }
}
