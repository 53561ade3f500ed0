//! OCPP-J frames: `[2, id, action, payload]`, `[3, id, payload]`, `[4, id, code, description,
//! details]`. Parsing never panics; a frame that cannot be understood yields the CALLERROR to
//! answer (or none, for a broken answer to one of our calls).

use super::error::{CallFault, ErrorCode};
use serde_json::{Map, Value, json};

/// Longest unique message id the specification allows.
pub const MAX_ID_LEN: usize = 36;
/// The id used to answer a frame whose own id cannot be read.
pub const UNKNOWN_ID: &str = "-1";

/// A well-formed OCPP-J message.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Call {
        id: String,
        action: String,
        payload: Value,
    },
    CallResult {
        id: String,
        payload: Value,
    },
    CallError {
        id: String,
        code: ErrorCode,
        description: String,
        details: Value,
    },
}

/// A frame that could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("bad frame: {fault}")]
pub struct BadFrame {
    /// The id to answer with a CALLERROR; `None` when no answer is due (a broken CALLRESULT or
    /// CALLERROR: answers are never answered).
    pub reply_to: Option<String>,
    pub fault: CallFault,
}

impl BadFrame {
    fn new(reply_to: Option<&str>, code: ErrorCode, description: impl Into<String>) -> Self {
        BadFrame {
            reply_to: reply_to.map(str::to_string),
            fault: CallFault::new(code, description),
        }
    }

    /// The CALLERROR answering this frame, if one is due.
    pub fn reply(&self) -> Option<Frame> {
        self.reply_to
            .as_ref()
            .map(|id| Frame::call_error(id, &self.fault))
    }
}

impl Frame {
    /// A CALLERROR carrying `fault`, with empty details.
    pub fn call_error(id: &str, fault: &CallFault) -> Frame {
        Frame::CallError {
            id: id.to_string(),
            code: fault.code,
            description: fault.description.clone(),
            details: Value::Object(Map::new()),
        }
    }

    /// The frame's unique id.
    pub fn id(&self) -> &str {
        match self {
            Frame::Call { id, .. } | Frame::CallResult { id, .. } | Frame::CallError { id, .. } => {
                id
            }
        }
    }

    /// JSON text for the websocket.
    pub fn to_text(&self) -> String {
        let v = match self {
            Frame::Call {
                id,
                action,
                payload,
            } => json!([2, id, action, payload]),
            Frame::CallResult { id, payload } => json!([3, id, payload]),
            Frame::CallError {
                id,
                code,
                description,
                details,
            } => json!([4, id, code.as_str(), description, details]),
        };
        v.to_string()
    }
}

/// Parse one websocket text message.
pub fn parse(text: &str) -> Result<Frame, BadFrame> {
    let unknown = Some(UNKNOWN_ID);
    let value: Value = serde_json::from_str(text).map_err(|e| {
        BadFrame::new(
            unknown,
            ErrorCode::FormationViolation,
            format!("not JSON: {e}"),
        )
    })?;
    let Value::Array(items) = value else {
        return Err(BadFrame::new(
            unknown,
            ErrorCode::FormationViolation,
            "a message must be a JSON array",
        ));
    };
    let kind = items.first().and_then(Value::as_u64);
    let id = items.get(1).and_then(Value::as_str);
    match kind {
        Some(2) => parse_call(&items, id),
        Some(3) | Some(4) => parse_answer(&items, id, kind == Some(3)),
        _ => Err(BadFrame::new(
            id.or(unknown),
            ErrorCode::FormationViolation,
            "the first element must be the message type 2, 3 or 4",
        )),
    }
}

fn check_id(id: Option<&str>, reply: bool) -> Result<String, BadFrame> {
    let reply_to = |i| if reply { Some(i) } else { None };
    match id {
        None => Err(BadFrame::new(
            reply_to(UNKNOWN_ID),
            ErrorCode::FormationViolation,
            "the second element must be the unique message id (a string)",
        )),
        Some(i) if i.chars().count() > MAX_ID_LEN => Err(BadFrame::new(
            reply_to(i),
            ErrorCode::FormationViolation,
            format!("the message id is longer than {MAX_ID_LEN} characters"),
        )),
        Some(i) => Ok(i.to_string()),
    }
}

fn parse_call(items: &[Value], id: Option<&str>) -> Result<Frame, BadFrame> {
    let id = check_id(id, true)?;
    let at = Some(id.as_str());
    match items.len() {
        0..=2 => Err(BadFrame::new(
            at,
            ErrorCode::ProtocolError,
            "a CALL needs an action and a payload",
        )),
        3 => Err(BadFrame::new(
            at,
            ErrorCode::ProtocolError,
            "the CALL has no payload",
        )),
        4 => {
            let Some(action) = items[2].as_str() else {
                return Err(BadFrame::new(
                    at,
                    ErrorCode::FormationViolation,
                    "the action must be a string",
                ));
            };
            if !items[3].is_object() {
                return Err(BadFrame::new(
                    at,
                    ErrorCode::FormationViolation,
                    "the payload must be a JSON object",
                ));
            }
            Ok(Frame::Call {
                id,
                action: action.to_string(),
                payload: items[3].clone(),
            })
        }
        n => Err(BadFrame::new(
            at,
            ErrorCode::FormationViolation,
            format!("a CALL has 4 elements, not {n}"),
        )),
    }
}

fn parse_answer(items: &[Value], id: Option<&str>, result: bool) -> Result<Frame, BadFrame> {
    let id = check_id(id, false)?;
    let bad = |what: &str| Err(BadFrame::new(None, ErrorCode::FormationViolation, what));
    if result {
        return match items {
            [_, _, payload] if payload.is_object() => Ok(Frame::CallResult {
                id,
                payload: payload.clone(),
            }),
            _ => bad("a CALLRESULT is [3, id, {payload}]"),
        };
    }
    let (code, description, details) = match items {
        [_, _, c, d] => (c, d, Value::Object(Map::new())),
        [_, _, c, d, details] => (c, d, details.clone()),
        _ => return bad("a CALLERROR is [4, id, code, description, {details}]"),
    };
    match (code.as_str(), description.as_str()) {
        (Some(code), Some(description)) => Ok(Frame::CallError {
            id,
            code: ErrorCode::from_wire(code),
            description: description.to_string(),
            details,
        }),
        _ => bad("a CALLERROR's code and description are strings"),
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
