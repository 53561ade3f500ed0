//! Test support: the numeric leaves of a serialized value, as key shapes (`a.b[].c`), so a test
//! can check that a list of checked numbers covers every number of a format.

use std::collections::BTreeSet;

/// `chargers[1].wiring[0]` -> `chargers[].wiring`: indices dropped, and a trailing `[]` (an array
/// of numbers counts as one key).
pub fn shape(key: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for ch in key.chars() {
        match ch {
            '[' => {
                skip = true;
                out.push('[');
            }
            ']' => {
                skip = false;
                out.push(']');
            }
            _ if skip => {}
            _ => out.push(ch),
        }
    }
    out.strip_suffix("[]").map(str::to_string).unwrap_or(out)
}

/// The shapes of every number in `v`.
pub fn numeric_leaves(v: &serde_json::Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(v, "", &mut out);
    out
}

fn walk(v: &serde_json::Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Number(_) => {
            out.insert(shape(path));
        }
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Asserts that `listed` (the shapes of the checked numbers) is exactly `in_format`.
pub fn assert_covers(in_format: &BTreeSet<String>, listed: &BTreeSet<String>) {
    let missing: Vec<_> = in_format.difference(listed).collect();
    assert!(missing.is_empty(), "numbers without a range: {missing:?}");
    let stray: Vec<_> = listed.difference(in_format).collect();
    assert!(stray.is_empty(), "ranges of no number: {stray:?}");
}

/// Sets the value at `key` (`a.b[1].c`) in a TOML document.
pub fn set(doc: &mut toml_edit::DocumentMut, key: &str, value: toml_edit::Value) {
    let mut item = doc.as_item_mut();
    for seg in key.split('.') {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        item = &mut item[name];
        if let Some(i) = index {
            item = &mut item[i];
        }
    }
    *item = toml_edit::Item::Value(value);
}

#[test]
fn shapes_drop_indices_and_a_trailing_array() {
    assert_eq!(shape("chargers[1].wiring[0]"), "chargers[].wiring");
    assert_eq!(shape("charger.states[2].raw"), "charger.states[].raw");
    let v = serde_json::json!({"a": 1, "b": [{"c": 2.5}, {"c": 3}], "d": [1, 2], "e": "x"});
    let keys: Vec<_> = numeric_leaves(&v).into_iter().collect();
    assert_eq!(keys, ["a", "b[].c", "d"]);
}
