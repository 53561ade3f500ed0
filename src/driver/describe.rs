//! A driver described for people (`hubgate drivers NAME`).

use super::model::Driver;
use super::schema::KeepaliveMode;

impl Driver {
    /// One line per value: name, register, type, unit.
    pub fn describe_values(&self) -> Vec<String> {
        self.file
            .values
            .iter()
            .map(|(name, v)| {
                let kind = match self.value_kind(v) {
                    crate::modbus::RegisterKind::Holding => "holding",
                    crate::modbus::RegisterKind::Input => "input",
                };
                let scale = if v.scale == 1.0 {
                    String::new()
                } else {
                    format!(" x{}", v.scale)
                };
                format!(
                    "{name:<18} {kind} {:#06x} {:?}{scale} {}",
                    v.address,
                    v.ty,
                    serde_json::to_value(v.unit)
                        .ok()
                        .and_then(|u| u.as_str().map(str::to_string))
                        .unwrap_or_default()
                )
            })
            .collect()
    }

    /// What the charger can be told to do.
    pub fn describe_charger(&self) -> Vec<String> {
        let Some(c) = &self.charger else {
            return Vec::new();
        };
        let mut out = vec![format!(
            "charger: {}..{} A, setpoint at {:#06x} ({:?} {:?}), {}",
            c.min_current_a,
            c.max_current_a,
            c.current_limit.address,
            c.current_limit.ty,
            c.current_limit.unit,
            if c.current_limit.zero_pauses {
                "0 pauses"
            } else {
                "paused through the enable register"
            }
        )];
        out.push(format!("  status map: {} raw states", c.states.len()));
        for s in &c.states {
            out.push(format!(
                "    {:#06x} -> IEC {:?}, OCPP {:?}",
                s.raw, s.iec, s.ocpp
            ));
        }
        if let Some(f) = &c.failsafe {
            out.push(format!("  failsafe: timeout {} s", f.timeout_s));
        }
        match &c.keepalive {
            Some(k) if k.mode == KeepaliveMode::Rewrite => out.push(format!(
                "  keep-alive: rewrite the setpoint every {} s",
                k.period_s
            )),
            Some(k) => out.push(format!(
                "  keep-alive: write register every {} s",
                k.period_s
            )),
            None => {}
        }
        if c.enable.is_some() {
            out.push("  enable/pause register".into());
        }
        if c.phase_switch.is_some() {
            out.push("  1/3-phase switching".into());
        }
        if c.unlock.is_some() {
            out.push("  connector unlock".into());
        }
        out
    }
}
