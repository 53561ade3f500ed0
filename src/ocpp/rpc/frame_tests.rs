use super::*;
use proptest::prelude::*;

fn fault(text: &str) -> (Option<String>, ErrorCode) {
    let e = parse(text).unwrap_err();
    (e.reply_to, e.fault.code)
}

#[test]
fn parses_the_three_kinds() {
    assert_eq!(
        parse(r#"[2,"a1","Heartbeat",{}]"#).unwrap(),
        Frame::Call {
            id: "a1".into(),
            action: "Heartbeat".into(),
            payload: json!({})
        }
    );
    assert_eq!(
        parse(r#"[3,"a1",{"x":1}]"#).unwrap(),
        Frame::CallResult {
            id: "a1".into(),
            payload: json!({"x":1})
        }
    );
    let e = parse(r#"[4,"a1","OccurenceConstraintViolation","missing",{}]"#).unwrap();
    assert!(matches!(
        e,
        Frame::CallError {
            code: ErrorCode::OccurrenceConstraintViolation,
            ..
        }
    ));
}

#[test]
fn serializes_as_arrays() {
    let f = Frame::Call {
        id: "7".into(),
        action: "Heartbeat".into(),
        payload: json!({}),
    };
    assert_eq!(f.to_text(), r#"[2,"7","Heartbeat",{}]"#);
    let e = Frame::call_error("7", &CallFault::new(ErrorCode::NotImplemented, "no"));
    assert_eq!(e.to_text(), r#"[4,"7","NotImplemented","no",{}]"#);
    assert_eq!(parse(&e.to_text()).unwrap(), e);
}

#[test]
fn malformed_calls_get_the_right_code() {
    let unknown = Some(UNKNOWN_ID.to_string());
    assert_eq!(
        fault("{not json"),
        (unknown.clone(), ErrorCode::FormationViolation)
    );
    assert_eq!(
        fault(r#"{"a":1}"#),
        (unknown.clone(), ErrorCode::FormationViolation)
    );
    assert_eq!(
        fault("[]"),
        (unknown.clone(), ErrorCode::FormationViolation)
    );
    assert_eq!(
        fault(r#"[2, 5, "Reset", {}]"#),
        (unknown, ErrorCode::FormationViolation)
    );
    let at = Some("x".to_string());
    assert_eq!(
        fault(r#"[9,"x"]"#),
        (at.clone(), ErrorCode::FormationViolation)
    );
    assert_eq!(
        fault(r#"[2,"x","Reset"]"#),
        (at.clone(), ErrorCode::ProtocolError)
    );
    assert_eq!(fault(r#"[2,"x"]"#), (at.clone(), ErrorCode::ProtocolError));
    assert_eq!(
        fault(r#"[2,"x",5,{}]"#),
        (at.clone(), ErrorCode::FormationViolation)
    );
    assert_eq!(
        fault(r#"[2,"x","Reset",[]]"#),
        (at.clone(), ErrorCode::FormationViolation)
    );
    assert_eq!(
        fault(r#"[2,"x","Reset",{},1]"#),
        (at, ErrorCode::FormationViolation)
    );
    let long = "i".repeat(MAX_ID_LEN + 1);
    assert_eq!(
        fault(&format!(r#"[2,"{long}","Reset",{{}}]"#)),
        (Some(long.clone()), ErrorCode::FormationViolation)
    );
    // an unknown message type echoes even an over-long id
    assert_eq!(
        fault(&format!(r#"[0,"{long}"]"#)),
        (Some(long), ErrorCode::FormationViolation)
    );
}

#[test]
fn broken_answers_are_not_answered() {
    for text in [
        r#"[3,"x"]"#,
        r#"[3,"x",[1]]"#,
        r#"[3,5,{}]"#,
        r#"[4,"x","GenericError"]"#,
        r#"[4,"x",1,"d",{}]"#,
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.reply_to, None, "{text}");
        assert_eq!(e.reply(), None);
    }
    // details may be left out by lenient peers
    assert!(parse(r#"[4,"x","GenericError","d"]"#).is_ok());
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn arbitrary_json_arrays_never_panic(
        kind in 0u64..6,
        id in proptest::option::of("[a-z0-9-]{0,40}"),
        rest in proptest::collection::vec(
            prop_oneof![
                Just(json!(null)), Just(json!({})), Just(json!([])), Just(json!("s")),
                Just(json!(1.5)), Just(json!({"a": [1, {"b": null}]}))
            ],
            0..5,
        ),
    ) {
        let mut items = vec![json!(kind)];
        if let Some(id) = id { items.push(json!(id)); }
        items.extend(rest);
        let text = Value::Array(items).to_string();
        match parse(&text) {
            Ok(frame) => prop_assert_eq!(parse(&frame.to_text()).unwrap(), frame),
            Err(bad) => {
                // the answer is a CALLERROR echoing whatever id could be read (even an
                // over-long one, so the peer can match it)
                if let Some(reply) = bad.reply() {
                    let v: Value = serde_json::from_str(&reply.to_text()).unwrap();
                    prop_assert_eq!(v[0].as_u64(), Some(4));
                    prop_assert_eq!(v.as_array().map(Vec::len), Some(5));
                }
            }
        }
    }
}
