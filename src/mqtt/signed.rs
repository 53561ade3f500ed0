//! Signed commands (pure): with `[mqtt] command_hmac_key_file`, a command is taken only when it
//! carries an HMAC-SHA256 of its topic and body under the shared key, a timestamp within
//! [`WINDOW_MS`] of hubgate's clock and a nonce not seen before in that window.
//!
//! The payload is an envelope: `{"body": "<the command's JSON, as a string>", "hmac_sha256":
//! "<64 hex digits>"}`. The MAC covers `<command topic below cmd/>` + `\n` + `body` (the exact
//! bytes of the string), so a signed pause of one charger cannot be replayed onto another. The
//! body is the command as without signing, plus `ts_ms` (ms since the Unix epoch, UTC) and `nonce`
//! (1 to 64 characters, never reused).

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use std::collections::BTreeMap;

type HmacSha256 = Hmac<sha2::Sha256>;

/// How far a command's `ts_ms` may be from hubgate's wall clock, either way (ms).
pub const WINDOW_MS: i64 = 60_000;
/// Nonces remembered at most; beyond this, commands are refused until older ones leave the window.
pub const MAX_NONCES: usize = 10_000;
/// The shortest key taken (bytes).
pub const MIN_KEY_BYTES: usize = 16;

/// The shared key, ready to MAC with (never printed).
#[derive(Clone)]
pub struct CommandKey(HmacSha256);

impl std::fmt::Debug for CommandKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommandKey(..)")
    }
}

impl CommandKey {
    /// The key from a key file's text: the whole file, surrounding whitespace trimmed.
    pub fn from_text(text: &str) -> Result<CommandKey, String> {
        let key = text.trim();
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the key is {} bytes; use at least {MIN_KEY_BYTES} (e.g. `openssl rand -hex 32`)",
                key.len()
            ));
        }
        HmacSha256::new_from_slice(key.as_bytes())
            .map(CommandKey)
            .map_err(|e| e.to_string())
    }

    fn mac(&self, subtopic: &str, body: &str) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(subtopic.as_bytes());
        mac.update(b"\n");
        mac.update(body.as_bytes());
        mac
    }

    /// The hex HMAC of a command body for `subtopic` (what a sender computes).
    pub fn sign(&self, subtopic: &str, body: &str) -> String {
        let tag = self.mac(subtopic, body).finalize().into_bytes();
        tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Checks signed commands and remembers their nonces.
#[derive(Clone)]
pub struct Verifier {
    key: CommandKey,
    /// Nonce -> its command's `ts_ms`.
    seen: BTreeMap<String, i64>,
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

impl Verifier {
    pub fn new(key: CommandKey) -> Verifier {
        Verifier {
            key,
            seen: BTreeMap::new(),
        }
    }

    /// The command body (as the unsigned command, without `ts_ms` and `nonce`), or why not.
    pub fn open(&mut self, subtopic: &str, payload: &[u8], now_ms: i64) -> Result<Vec<u8>, String> {
        const SHAPE: &str = "commands must be signed: {\"body\": \"<command JSON>\", \
                             \"hmac_sha256\": \"<hex>\"} (see docs/mqtt.md)";
        let Ok(Value::Object(envelope)) = serde_json::from_slice::<Value>(payload) else {
            return Err(SHAPE.into());
        };
        let (Some(Value::String(body)), Some(Value::String(tag)), 2) = (
            envelope.get("body"),
            envelope.get("hmac_sha256"),
            envelope.len(),
        ) else {
            return Err(SHAPE.into());
        };
        let tag = hex(tag).ok_or("`hmac_sha256` must be 64 hex digits")?;
        self.key
            .mac(subtopic, body)
            .verify_slice(&tag)
            .map_err(|_| "HMAC does not match (wrong key, or the topic or body changed)")?;
        let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(body) else {
            return Err("the signed body must be a JSON object".into());
        };
        let ts = map
            .remove("ts_ms")
            .and_then(|v| v.as_i64())
            .ok_or("the signed body needs `ts_ms`, ms since the Unix epoch (UTC)")?;
        let nonce = match map.remove("nonce") {
            Some(Value::String(n)) if (1..=64).contains(&n.len()) => n,
            _ => {
                return Err("the signed body needs `nonce`, a string of 1 to 64 characters".into());
            }
        };
        let off = ts.saturating_sub(now_ms);
        if off.abs() > WINDOW_MS {
            return Err(format!(
                "`ts_ms` is {} s from hubgate's clock; at most {} s either way",
                off / 1000,
                WINDOW_MS / 1000
            ));
        }
        // Nonces older than the window cannot come back: their `ts_ms` would be refused.
        self.seen.retain(|_, t| *t >= now_ms - WINDOW_MS);
        if self.seen.contains_key(&nonce) {
            return Err(format!("replayed: nonce `{nonce}` was already used"));
        }
        if self.seen.len() >= MAX_NONCES {
            return Err("too many signed commands within the replay window".into());
        }
        self.seen.insert(nonce, ts);
        serde_json::to_vec(&Value::Object(map)).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn key() -> CommandKey {
        CommandKey::from_text("  0123456789abcdef0123456789abcdef\n").unwrap()
    }

    fn envelope(key: &CommandKey, subtopic: &str, body: &str) -> Vec<u8> {
        serde_json::json!({"body": body, "hmac_sha256": key.sign(subtopic, body)})
            .to_string()
            .into_bytes()
    }

    fn body(ts: i64, nonce: &str) -> String {
        format!(r#"{{"id":"e1","limit_a":30,"expires_in_s":60,"ts_ms":{ts},"nonce":"{nonce}"}}"#)
    }

    #[test]
    fn a_signed_command_opens_to_the_plain_command() {
        let mut v = Verifier::new(key());
        let inner = v
            .open("limit", &envelope(&key(), "limit", &body(NOW, "n1")), NOW)
            .unwrap();
        let inner: Value = serde_json::from_slice(&inner).unwrap();
        assert_eq!(
            inner,
            serde_json::json!({"id":"e1","limit_a":30,"expires_in_s":60})
        );
    }

    #[test]
    fn unsigned_wrongly_signed_stale_and_replayed_commands_are_refused() {
        let mut v = Verifier::new(key());
        let other = CommandKey::from_text("another key, long enough").unwrap();
        let refused = |v: &mut Verifier, sub: &str, payload: &[u8]| {
            v.open(sub, payload, NOW).expect_err("must be refused")
        };
        let plain = br#"{"limit_a":30,"expires_in_s":60}"#;
        assert!(refused(&mut v, "limit", plain).contains("must be signed"));
        let wrong = envelope(&other, "limit", &body(NOW, "a"));
        assert!(refused(&mut v, "limit", &wrong).contains("does not match"));
        // Signed for one charger, sent to another.
        let b = format!(r#"{{"action":"pause","ts_ms":{NOW},"nonce":"b"}}"#);
        let moved = envelope(&key(), "charger/cp-1", &b);
        assert!(refused(&mut v, "charger/cp-2", &moved).contains("does not match"));
        let stale = envelope(&key(), "limit", &body(NOW - 61_000, "c"));
        assert!(refused(&mut v, "limit", &stale).contains("at most 60 s"));
        let no_nonce = format!(r#"{{"limit_a":30,"ts_ms":{NOW}}}"#);
        let no_nonce = envelope(&key(), "limit", &no_nonce);
        assert!(refused(&mut v, "limit", &no_nonce).contains("nonce"));
        let once = envelope(&key(), "limit", &body(NOW, "d"));
        assert!(v.open("limit", &once, NOW).is_ok());
        assert!(refused(&mut v, "limit", &once).contains("replayed"));
        let bad_hex = br#"{"body":"{}","hmac_sha256":"zz"}"#;
        assert!(refused(&mut v, "limit", bad_hex).contains("64 hex"));
    }

    #[test]
    fn the_mac_is_the_documented_one() {
        // From `printf 'limit\n%s' '{"a":1}' | openssl dgst -sha256 -hmac <key>` (docs/mqtt.md).
        let key = CommandKey::from_text("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            key.sign("limit", r#"{"a":1}"#),
            "824e94026fb0415a25153a0cf6d335f56382968c0b1b55c95916bb10be0dd9f0"
        );
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_printed() {
        assert!(CommandKey::from_text("short\n").is_err());
        assert_eq!(format!("{:?}", key()), "CommandKey(..)");
    }

    proptest::proptest! {
        #[test]
        fn any_change_to_a_signed_body_is_refused(pos in 0usize..60, byte in 32u8..127) {
            let b = body(NOW, "p");
            let mut changed = b.clone().into_bytes();
            let i = pos % changed.len();
            proptest::prop_assume!(changed[i] != byte);
            changed[i] = byte;
            let Ok(changed) = String::from_utf8(changed) else { return Ok(()) };
            let tag = key().sign("limit", &b);
            let payload = serde_json::json!({"body": changed, "hmac_sha256": tag}).to_string();
            let mut v = Verifier::new(key());
            proptest::prop_assert!(v.open("limit", payload.as_bytes(), NOW).is_err());
        }
    }
}
