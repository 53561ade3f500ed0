//! The one outstanding CALL: unique ids, matching of answers, timeouts (on the monotonic clock).

use super::frame::Frame;
use crate::clock::Mono;
use serde_json::Value;
use std::time::Duration;

/// A CALL of ours waiting for its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Outstanding<T> {
    pub id: String,
    pub action: String,
    pub deadline: Mono,
    /// What the caller needs to handle the answer.
    pub tag: T,
}

/// How an answer to our CALL ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Result(Value),
    Error {
        code: super::ErrorCode,
        description: String,
    },
}

/// A CALL was started while another was outstanding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a CALL is already outstanding")]
pub struct Busy;

/// Issues unique ids and keeps at most one CALL outstanding.
#[derive(Debug)]
pub struct CallTracker<T> {
    prefix: String,
    counter: u64,
    timeout: Duration,
    outstanding: Option<Outstanding<T>>,
}

impl<T> CallTracker<T> {
    /// `prefix` keeps ids unique across restarts (e.g. random per process); ids are
    /// `prefix-counter`, at most 36 characters for a prefix of up to 15.
    pub fn new(prefix: &str, timeout: Duration) -> Self {
        CallTracker {
            prefix: prefix.chars().take(15).collect(),
            counter: 0,
            timeout,
            outstanding: None,
        }
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn is_busy(&self) -> bool {
        self.outstanding.is_some()
    }

    pub fn outstanding(&self) -> Option<&Outstanding<T>> {
        self.outstanding.as_ref()
    }

    /// Start a CALL; returns its frame.
    pub fn start(
        &mut self,
        action: &str,
        payload: Value,
        tag: T,
        now: Mono,
    ) -> Result<Frame, Busy> {
        if self.outstanding.is_some() {
            return Err(Busy);
        }
        self.counter = self.counter.wrapping_add(1);
        let id = format!("{}-{}", self.prefix, self.counter);
        self.outstanding = Some(Outstanding {
            id: id.clone(),
            action: action.to_string(),
            deadline: now.after(self.timeout),
            tag,
        });
        Ok(Frame::Call {
            id,
            action: action.to_string(),
            payload,
        })
    }

    /// Match a CALLRESULT or CALLERROR to the outstanding CALL. `None` for a stray answer
    /// (unknown id, e.g. late after a timeout), which is to be ignored.
    pub fn answer(&mut self, frame: Frame) -> Option<(Outstanding<T>, Answer)> {
        let (id, answer) = match frame {
            Frame::CallResult { id, payload } => (id, Answer::Result(payload)),
            Frame::CallError {
                id,
                code,
                description,
                ..
            } => (id, Answer::Error { code, description }),
            Frame::Call { .. } => return None,
        };
        if self.outstanding.as_ref().is_some_and(|o| o.id == id) {
            self.outstanding.take().map(|o| (o, answer))
        } else {
            None
        }
    }

    /// The outstanding CALL, if its deadline has passed.
    pub fn expire(&mut self, now: Mono) -> Option<Outstanding<T>> {
        if self.outstanding.as_ref().is_some_and(|o| now >= o.deadline) {
            self.outstanding.take()
        } else {
            None
        }
    }

    /// Forget the outstanding CALL (the connection dropped).
    pub fn abandon(&mut self) -> Option<Outstanding<T>> {
        self.outstanding.take()
    }

    pub fn deadline(&self) -> Option<Mono> {
        self.outstanding.as_ref().map(|o| o.deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::rpc::ErrorCode;
    use serde_json::json;

    #[test]
    fn one_call_at_a_time_with_unique_ids() {
        let t0 = Mono::from_origin(Duration::from_secs(7));
        let mut t = CallTracker::new("boot7", Duration::from_secs(30));
        let f1 = t.start("Heartbeat", json!({}), 1, t0).unwrap();
        assert_eq!(t.start("Heartbeat", json!({}), 2, t0), Err(Busy));
        let id1 = f1.id().to_string();
        assert!(id1.len() <= 36);
        // a stray answer is ignored and keeps the call outstanding
        let stray = Frame::CallResult {
            id: "other".into(),
            payload: json!({}),
        };
        assert!(t.answer(stray).is_none());
        let (o, a) = t
            .answer(Frame::CallResult {
                id: id1.clone(),
                payload: json!({"a": 1}),
            })
            .unwrap();
        assert_eq!((o.tag, a), (1, Answer::Result(json!({"a": 1}))));
        let f2 = t.start("Heartbeat", json!({}), 3, t0).unwrap();
        assert_ne!(f2.id(), id1);
        let err = Frame::CallError {
            id: f2.id().into(),
            code: ErrorCode::InternalError,
            description: "x".into(),
            details: json!({}),
        };
        let (_, a) = t.answer(err).unwrap();
        assert!(matches!(
            a,
            Answer::Error {
                code: ErrorCode::InternalError,
                ..
            }
        ));
    }

    #[test]
    fn calls_time_out() {
        let t0 = Mono::from_origin(Duration::from_secs(7));
        let mut t = CallTracker::new("p", Duration::from_secs(10));
        let f = t.start("Heartbeat", json!({}), (), t0).unwrap();
        assert_eq!(t.deadline(), Some(t0.after(Duration::from_secs(10))));
        assert!(t.expire(t0.after(Duration::from_secs(9))).is_none());
        assert!(t.expire(t0.after(Duration::from_secs(10))).is_some());
        assert!(!t.is_busy());
        // the late answer is a stray now
        assert!(
            t.answer(Frame::CallResult {
                id: f.id().into(),
                payload: json!({})
            })
            .is_none()
        );
    }
}
