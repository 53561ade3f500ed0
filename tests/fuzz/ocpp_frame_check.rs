//! What any text from the CSMS must do to us, whatever it holds: checked by the fuzz target
//! `ocpp_frame` on generated inputs and by `tests/fuzz_inputs.rs` on the committed ones.
//!
//! - the parser never panics; a frame it accepts comes back unchanged from our own text;
//! - a frame it refuses is answered, when an answer is due, with a CALLERROR whose code is one
//!   of OCPP-J 1.6's;
//! - an online charge point given the text answers exactly once when the text asks for an
//!   answer (a CALL, or anything that is not an answer to one of our calls), never answers an
//!   answer, sends only JSON, and goes on answering afterwards.

use hubgate::ocpp::chargepoint::{Output, SiteCommand, testkit};
use hubgate::ocpp::rpc::parse;
use serde_json::Value;

/// The error codes of OCPP-J 1.6, section 4.2.3, as spelled on the wire.
const CODES: [&str; 10] = [
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
];

pub fn check(text: &str) {
    parser(text);
    session(text);
}

fn parser(text: &str) {
    match parse(text) {
        Ok(frame) => {
            let again = parse(&frame.to_text());
            assert_eq!(again.as_ref(), Ok(&frame), "round trip of {text:?}");
        }
        Err(bad) => {
            if let Some(reply) = bad.reply() {
                let v: Value = serde_json::from_str(&reply.to_text()).expect("CALLERROR is JSON");
                assert_call_error(&v, text);
            }
        }
    }
}

fn assert_call_error(v: &Value, text: &str) {
    let parts = v.as_array().map_or(0, Vec::len);
    assert_eq!(parts, 5, "CALLERROR {v} for {text:?}");
    assert_eq!(v[0], 4, "CALLERROR {v} for {text:?}");
    assert!(
        v[1].is_string() && v[3].is_string() && v[4].is_object(),
        "{v}"
    );
    let code = v[2].as_str().unwrap_or_default();
    assert!(
        CODES.contains(&code),
        "unknown error code in {v} for {text:?}"
    );
}

/// The message id an answer must carry, read without our parser: `None` for an answer
/// (message type 3 or 4), which is never answered.
fn answer_due(text: &str) -> Option<String> {
    const UNREADABLE: &str = "-1";
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return Some(UNREADABLE.into());
    };
    match items.first().and_then(Value::as_u64) {
        Some(3 | 4) => None,
        _ => Some(
            items
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or(UNREADABLE)
                .to_string(),
        ),
    }
}

fn answers_in(out: &[Output]) -> Vec<Value> {
    let sent = out.iter().filter(|o| matches!(o, Output::Send(_))).count();
    let frames = testkit::sent_frames(out);
    assert_eq!(frames.len(), sent, "every frame sent is JSON: {out:?}");
    frames
        .into_iter()
        .filter(|f| f[0] == 3 || f[0] == 4)
        .collect()
}

fn session(text: &str) {
    let now = hubgate::clock::Moment {
        mono: hubgate::clock::Mono::from_origin(std::time::Duration::from_secs(60)),
        wall: chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::days(20_000),
    };
    let mut cp = testkit::online(now).expect("the lab charge point comes online");
    let out = cp.on_text(text, now);
    let answers = answers_in(&out);
    // UnlockConnector is answered when the charger reports the outcome
    let deferred = out
        .iter()
        .any(|o| matches!(o, Output::Site(SiteCommand::Unlock { .. })));
    match answer_due(text) {
        Some(_) if deferred => assert!(answers.is_empty(), "{text:?}: {out:?}"),
        Some(id) => {
            assert_eq!(answers.len(), 1, "{text:?} is answered once: {out:?}");
            assert_eq!(answers[0][1], Value::String(id), "{text:?}: {out:?}");
            if answers[0][0] == 4 {
                assert_call_error(&answers[0], text);
            }
        }
        None => assert!(answers.is_empty(), "answers are not answered: {out:?}"),
    }
    let out = cp.on_text(
        r#"[2,"after","GetConfiguration",{"key":["HeartbeatInterval"]}]"#,
        now,
    );
    let after = answers_in(&out);
    assert!(
        after.len() == 1 && after[0][0] == 3 && after[0][1] == "after",
        "the session goes on after {text:?}: {out:?}"
    );
}
