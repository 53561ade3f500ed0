//! Where each key of a TOML file stands: key path (`chargers[2].max_current_a`) -> line number.

use std::collections::HashMap;
use toml_edit::{Document, Item, Table, Value};

/// Line numbers (1-based) of every key path in a TOML document.
#[derive(Debug, Default, Clone)]
pub struct KeyLines {
    lines: HashMap<String, usize>,
}

impl KeyLines {
    /// Index a parsed document. `text` is the source it was parsed from.
    pub fn index(doc: &Document<String>, text: &str) -> KeyLines {
        let starts = line_starts(text);
        let mut out = KeyLines::default();
        walk_table(doc.as_table(), "", &starts, &mut out.lines);
        out
    }

    /// Line of `path`, or of its nearest indexed ancestor (a missing key is reported at its table).
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            p = parent_path(p)?;
        }
    }
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> None.
pub fn parent_path(p: &str) -> Option<&str> {
    if p.is_empty() {
        return None;
    }
    if p.ends_with(']') {
        return p.rfind('[').map(|i| &p[..i]);
    }
    match p.rfind('.') {
        Some(i) => Some(&p[..i]),
        None => Some(""),
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    v
}

fn line_at(starts: &[usize], offset: usize) -> usize {
    match starts.binary_search(&offset) {
        Ok(i) => i + 1,
        Err(i) => i,
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk_table(t: &Table, prefix: &str, starts: &[usize], out: &mut HashMap<String, usize>) {
    if let Some(span) = t.span() {
        out.entry(prefix.to_string())
            .or_insert(line_at(starts, span.start));
    }
    for (key, item) in t.iter() {
        let path = join(prefix, key);
        if let Some((k, _)) = t.get_key_value(key)
            && let Some(span) = k.span()
        {
            out.insert(path.clone(), line_at(starts, span.start));
        }
        walk_item(item, &path, starts, out);
    }
}

fn walk_item(item: &Item, path: &str, starts: &[usize], out: &mut HashMap<String, usize>) {
    match item {
        Item::Table(t) => walk_table(t, path, starts, out),
        Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                walk_table(t, &format!("{path}[{i}]"), starts, out);
            }
        }
        Item::Value(v) => walk_value(v, path, starts, out),
        Item::None => {}
    }
}

fn walk_value(v: &Value, path: &str, starts: &[usize], out: &mut HashMap<String, usize>) {
    match v {
        Value::InlineTable(t) => {
            for (key, val) in t.iter() {
                let p = join(path, key);
                if let Some(span) = val.span() {
                    out.insert(p.clone(), line_at(starts, span.start));
                }
                walk_value(val, &p, starts, out);
            }
        }
        Value::Array(a) => {
            for (i, val) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if let Some(span) = val.span() {
                    out.insert(p.clone(), line_at(starts, span.start));
                }
                walk_value(val, &p, starts, out);
            }
        }
        _ => {}
    }
}

/// Key paths of the floats in a document that are not finite (`nan`, `inf`), with their text.
/// They cannot travel through the merge with the environment (JSON has no such numbers), so they
/// are found here, in the file itself.
pub fn non_finite_floats(doc: &Document<String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    floats_in_table(doc.as_table(), "", &mut out);
    out
}

fn floats_in_table(t: &Table, prefix: &str, out: &mut Vec<(String, String)>) {
    for (key, item) in t.iter() {
        let path = join(prefix, key);
        match item {
            Item::Table(t) => floats_in_table(t, &path, out),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    floats_in_table(t, &format!("{path}[{i}]"), out);
                }
            }
            Item::Value(v) => floats_in_value(v, &path, out),
            Item::None => {}
        }
    }
}

fn floats_in_value(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Float(f) if !f.value().is_finite() => {
            out.push((path.to_string(), f.display_repr().trim().to_string()));
        }
        Value::InlineTable(t) => {
            for (key, val) in t.iter() {
                floats_in_value(val, &join(path, key), out);
            }
        }
        Value::Array(a) => {
            for (i, val) in a.iter().enumerate() {
                floats_in_value(val, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_of_nested_keys() {
        let text = "[site]\nid = \"x\"\n\n[[chargers]]\nname = \"a\"\n\n[[chargers]]\nname = \"b\"\nmax_current_a = 16\nwiring = [\"L1\",\n \"L2\"]\n";
        let doc: Document<String> = Document::parse(text.to_string()).unwrap();
        let k = KeyLines::index(&doc, text);
        assert_eq!(k.line_of("site.id"), Some(2));
        assert_eq!(k.line_of("chargers[1].name"), Some(8));
        assert_eq!(k.line_of("chargers[1].max_current_a"), Some(9));
        assert_eq!(k.line_of("chargers[1].wiring[1]"), Some(11));
        // A missing key is reported where its table starts.
        assert_eq!(k.line_of("chargers[1].unit"), Some(7));
    }

    #[test]
    fn finds_floats_that_are_not_finite() {
        let text = "a = nan\nb = 1.5\n[t]\nc = [1.0, -inf]\nd = { e = +inf }\n[[l]]\nf = 2\n[[l]]\nf = nan\n";
        let doc: Document<String> = Document::parse(text.to_string()).unwrap();
        let found: Vec<String> = non_finite_floats(&doc)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(found, ["a", "t.c[1]", "t.d.e", "l[1].f"]);
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent_path("a.b[2]"), Some("a.b"));
        assert_eq!(parent_path("a"), Some(""));
        assert_eq!(parent_path(""), None);
    }
}
