//! Commands over MQTT (pure): an external site limit with an expiry, and pausing or resuming a
//! charger. Every command is validated; a refused one changes nothing and is answered with the
//! reason.

use crate::limits::SourceLimits;
use crate::phase::PerPhase;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// Longest expiry an external limit may ask for (s): a limit must lapse by itself.
pub const MAX_EXPIRY_S: f64 = 86_400.0;

/// A validated command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Cap the site per phase until `expires_in_s` from now.
    SetLimit {
        limit_a: PerPhase<f64>,
        expires_in_s: f64,
    },
    /// Remove the external limit.
    ClearLimit,
    Pause {
        charger: String,
    },
    Resume {
        charger: String,
    },
}

/// The answer published on `cmd/response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The `id` the command carried, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The command topic's last segments, e.g. `limit` or `charger/cp-1`.
    pub command: String,
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the site allows: the grid limit caps the external limit; charger names must exist.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    pub grid_limit_a: PerPhase<f64>,
    pub chargers: Vec<String>,
}

/// Parses and validates a command from its topic (below `<prefix>/cmd/`) and payload.
/// Returns the command, or the reason it is refused; the payload's `id` either way.
pub fn parse(
    subtopic: &str,
    payload: &[u8],
    bounds: &Bounds,
) -> (Option<String>, Result<Command, String>) {
    let value: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return (None, Err(format!("payload is not JSON: {e}"))),
    };
    let Value::Object(map) = value else {
        return (None, Err("payload must be a JSON object".into()));
    };
    let id = match map.get("id") {
        None => None,
        Some(Value::String(s)) if s.len() <= 64 => Some(s.clone()),
        Some(_) => {
            return (
                None,
                Err("`id` must be a string of at most 64 characters".into()),
            );
        }
    };
    let result = match subtopic.split('/').collect::<Vec<_>>().as_slice() {
        ["limit"] => parse_limit(&map, bounds),
        ["charger", name] => parse_charger(name, &map, bounds),
        _ => Err(format!(
            "unknown command topic `{subtopic}`: use `limit` or `charger/<name>`"
        )),
    };
    (id, result)
}

fn unknown_keys(map: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown field `{k}`; allowed: {}",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn parse_limit(map: &serde_json::Map<String, Value>, bounds: &Bounds) -> Result<Command, String> {
    unknown_keys(map, &["id", "limit_a", "expires_in_s"])?;
    let limit = match map.get("limit_a") {
        None => {
            return Err("`limit_a` is required (a number, [L1, L2, L3], or null to clear)".into());
        }
        Some(Value::Null) => return Ok(Command::ClearLimit),
        Some(Value::Number(n)) => PerPhase::splat(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::Array(a)) if a.len() == 3 => {
            let mut out = [0.0; 3];
            for (slot, v) in out.iter_mut().zip(a) {
                *slot = v.as_f64().ok_or("`limit_a` entries must be numbers")?;
            }
            PerPhase(out)
        }
        Some(_) => return Err("`limit_a` must be a number, [L1, L2, L3] or null".into()),
    };
    for (i, (l, g)) in limit.0.iter().zip(bounds.grid_limit_a.0.iter()).enumerate() {
        if !l.is_finite() || *l < 0.0 {
            return Err(format!(
                "L{} limit {l} A must be a number of 0 A or more",
                i + 1
            ));
        }
        if l > g {
            return Err(format!(
                "L{} limit {l} A is above the grid limit {g} A; an external limit can only lower it",
                i + 1
            ));
        }
    }
    let expires = match map.get("expires_in_s") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(_) => return Err("`expires_in_s` must be a number of seconds".into()),
        None => {
            return Err("`expires_in_s` is required: an external limit lapses by itself".into());
        }
    };
    if !(expires > 0.0 && expires <= MAX_EXPIRY_S) {
        return Err(format!(
            "`expires_in_s` must be above 0 and at most {MAX_EXPIRY_S}"
        ));
    }
    Ok(Command::SetLimit {
        limit_a: limit,
        expires_in_s: expires,
    })
}

fn parse_charger(
    name: &str,
    map: &serde_json::Map<String, Value>,
    bounds: &Bounds,
) -> Result<Command, String> {
    unknown_keys(map, &["id", "action"])?;
    if !bounds.chargers.iter().any(|c| c == name) {
        return Err(format!("no charger named `{name}`"));
    }
    match map.get("action").and_then(Value::as_str) {
        Some("pause") => Ok(Command::Pause {
            charger: name.into(),
        }),
        Some("resume") => Ok(Command::Resume {
            charger: name.into(),
        }),
        _ => Err("`action` must be \"pause\" or \"resume\"".into()),
    }
}

/// Largest command payload taken (bytes); a larger one is refused with an answer.
pub const MAX_COMMAND_BYTES: usize = 4096;

/// Whether a delivered message may be treated as a command at all: a retained one (the broker
/// hands it over again at every connect) and an oversized one are refused before parsing.
pub fn admit(retained: bool, payload_len: usize) -> Result<(), String> {
    if retained {
        return Err(
            "retained commands are not applied: publish commands without the retain flag \
             (and clear this one with an empty retained message)"
                .into(),
        );
    }
    if payload_len > MAX_COMMAND_BYTES {
        return Err(format!(
            "payload of {payload_len} bytes is above the {MAX_COMMAND_BYTES}-byte command limit"
        ));
    }
    Ok(())
}

/// The `id` of a payload refused before parsing (not looked for in an oversized one).
pub fn id_of(payload: &[u8]) -> Option<String> {
    if payload.len() > MAX_COMMAND_BYTES {
        return None;
    }
    let value: Value = serde_json::from_slice(payload).ok()?;
    match value.get("id")? {
        Value::String(s) if s.len() <= 64 => Some(s.clone()),
        _ => None,
    }
}

/// Now on both clocks: the monotonic one (ms since the MQTT task started), which alone decides
/// when a limit lapses, and the wall clock (ms since the Unix epoch, UTC), which only dates it
/// for the state topic and the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono_ms: u64,
    pub unix_ms: i64,
}

/// An external site cap in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cap {
    pub limit_a: PerPhase<f64>,
    /// When it lapses on the monotonic clock.
    pub until_mono_ms: u64,
    /// The same instant on the wall clock as it read when the limit was set (UTC).
    pub until_unix_ms: i64,
}

/// What the MQTT side currently imposes, with the limit's expiry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MqttLimits {
    pub site_cap: Option<Cap>,
    pub paused: BTreeSet<String>,
}

impl MqttLimits {
    /// Applies a validated command at `now`.
    pub fn apply(&mut self, command: &Command, now: Now) {
        match command {
            Command::SetLimit {
                limit_a,
                expires_in_s,
            } => {
                let ms = (expires_in_s * 1000.0).round() as u64;
                self.site_cap = Some(Cap {
                    limit_a: *limit_a,
                    until_mono_ms: now.mono_ms.saturating_add(ms),
                    until_unix_ms: now.unix_ms.saturating_add(ms as i64),
                });
            }
            Command::ClearLimit => self.site_cap = None,
            Command::Pause { charger } => {
                self.paused.insert(charger.clone());
            }
            Command::Resume { charger } => {
                self.paused.remove(charger);
            }
        }
    }

    /// Drops a limit whose expiry has passed on the monotonic clock. True when something lapsed.
    pub fn expire(&mut self, mono_ms: u64) -> bool {
        if self.site_cap.is_some_and(|c| c.until_mono_ms <= mono_ms) {
            self.site_cap = None;
            return true;
        }
        false
    }

    /// When the current limit lapses, if any (monotonic ms).
    pub fn next_expiry(&self) -> Option<u64> {
        self.site_cap.map(|c| c.until_mono_ms)
    }

    /// As the control loop takes them.
    pub fn to_source(&self) -> SourceLimits {
        SourceLimits {
            site_cap_a: self.site_cap.map(|c| c.limit_a),
            charger_cap_a: Default::default(),
            paused: self.paused.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            grid_limit_a: PerPhase::splat(63.0),
            chargers: vec!["cp-1".into()],
        }
    }

    fn at(mono_ms: u64) -> Now {
        Now {
            mono_ms,
            unix_ms: 1_700_000_000_000 + mono_ms as i64,
        }
    }

    #[test]
    fn a_valid_limit_is_accepted_and_lapses() {
        let (id, c) = parse(
            "limit",
            br#"{"id":"a1","limit_a":[40,30,40],"expires_in_s":60}"#,
            &bounds(),
        );
        assert_eq!(id.as_deref(), Some("a1"));
        let c = c.unwrap();
        let mut l = MqttLimits::default();
        l.apply(&c, at(1_000));
        assert_eq!(l.to_source().site_cap_a, Some(PerPhase([40.0, 30.0, 40.0])));
        assert!(!l.expire(60_999));
        assert!(l.expire(61_000));
        assert_eq!(l.to_source().site_cap_a, None);
    }

    #[test]
    fn bad_commands_are_refused_with_a_reason() {
        let b = bounds();
        for (topic, payload, needle) in [
            ("limit", &b"not json"[..], "not JSON"),
            ("limit", br#"[1]"#, "object"),
            (
                "limit",
                br#"{"limit_a":70,"expires_in_s":60}"#,
                "above the grid limit",
            ),
            (
                "limit",
                br#"{"limit_a":-1,"expires_in_s":60}"#,
                "0 A or more",
            ),
            ("limit", br#"{"limit_a":30}"#, "expires_in_s` is required"),
            ("limit", br#"{"limit_a":30,"expires_in_s":0}"#, "above 0"),
            ("limit", br#"{"limit_a":30,"expires_in_s":1e9}"#, "at most"),
            (
                "limit",
                br#"{"limit_a":[1,2],"expires_in_s":5}"#,
                "must be a number",
            ),
            (
                "limit",
                br#"{"limit_a":30,"expires_in_s":5,"extra":1}"#,
                "unknown field `extra`",
            ),
            ("charger/cp-9", br#"{"action":"pause"}"#, "no charger named"),
            ("charger/cp-1", br#"{"action":"explode"}"#, "pause"),
            ("reboot", br#"{}"#, "unknown command topic"),
        ] {
            let (_, r) = parse(topic, payload, &b);
            let reason = r.expect_err(topic);
            assert!(reason.contains(needle), "{topic} {payload:?}: {reason}");
        }
    }

    #[test]
    fn pause_and_resume() {
        let mut l = MqttLimits::default();
        let (_, c) = parse("charger/cp-1", br#"{"action":"pause"}"#, &bounds());
        l.apply(&c.unwrap(), at(0));
        assert!(l.to_source().paused.contains("cp-1"));
        let (_, c) = parse("charger/cp-1", br#"{"action":"resume"}"#, &bounds());
        l.apply(&c.unwrap(), at(0));
        assert!(l.to_source().paused.is_empty());
        let (_, c) = parse("limit", br#"{"limit_a":null}"#, &bounds());
        assert_eq!(c.unwrap(), Command::ClearLimit);
    }

    #[test]
    fn a_wall_clock_jump_neither_shortens_nor_lengthens_a_limit() {
        let (_, c) = parse("limit", br#"{"limit_a":30,"expires_in_s":600}"#, &bounds());
        let c = c.unwrap();
        let mut l = MqttLimits::default();
        l.apply(&c, at(5_000));
        let set = l.site_cap.unwrap();
        assert_eq!(set.until_unix_ms, at(605_000).unix_ms);
        // Only the monotonic clock decides: 2 s later, whatever the wall clock says, it holds.
        assert!(!l.expire(7_000));
        assert!(!l.expire(604_999));
        assert!(l.expire(605_000));
    }

    #[test]
    fn retained_and_oversized_messages_are_not_commands() {
        assert!(admit(false, 100).is_ok());
        assert!(admit(false, MAX_COMMAND_BYTES).is_ok());
        assert!(admit(true, 10).unwrap_err().contains("retained"));
        assert_eq!(
            id_of(br#"{"id":"k","action":"pause"}"#).as_deref(),
            Some("k")
        );
        assert_eq!(id_of(" ".repeat(MAX_COMMAND_BYTES + 1).as_bytes()), None);
        assert!(
            admit(false, 20_000)
                .unwrap_err()
                .contains("20000 bytes is above")
        );
    }

    proptest::proptest! {
        #[test]
        fn a_limit_lapses_exactly_at_its_monotonic_expiry(
            set_at in 0u64..1_000_000_000,
            secs in 1u32..=86_400,
            wall in -10_000_000_000_000i64..10_000_000_000_000,
        ) {
            let mut l = MqttLimits::default();
            let now = Now { mono_ms: set_at, unix_ms: wall };
            let cmd = Command::SetLimit { limit_a: PerPhase::splat(10.0), expires_in_s: f64::from(secs) };
            l.apply(&cmd, now);
            let until = set_at + u64::from(secs) * 1000;
            proptest::prop_assert!(!l.clone().expire(until - 1));
            proptest::prop_assert!(l.expire(until));
        }
    }
}
