//! The driver registry: the built-in driver files plus those of extra directories, every problem
//! reported with the file, the key and the line.

use super::model::Driver;
use super::schema::DriverFile;
use crate::config::{DeviceKind, DriverCatalog};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_drivers.rs"));
}

/// One problem in one driver file.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverProblem {
    pub path: PathBuf,
    /// Key path, e.g. `charger.current_limit.type` (empty for the whole file).
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for DriverProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem of every driver file that failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct DriverErrors(pub Vec<DriverProblem>);

impl fmt::Display for DriverErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "driver files have problems:")?;
        for p in &self.0 {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// The drivers hubgate knows, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    drivers: BTreeMap<String, Arc<Driver>>,
}

impl Registry {
    /// The drivers built into the binary.
    pub fn builtin() -> Result<Registry, DriverErrors> {
        Self::load(&[])
    }

    /// The built-in drivers plus every `*.toml` of `dirs` (a file there replaces a built-in one of
    /// the same name). All files are checked; all problems are returned together.
    pub fn load(dirs: &[PathBuf]) -> Result<Registry, DriverErrors> {
        let mut problems = Vec::new();
        let mut drivers = BTreeMap::new();
        for (file, text) in builtin::BUILTIN {
            let path = Path::new("drivers").join(file);
            match parse(&path, text) {
                Ok(d) => {
                    drivers.insert(d.name.clone(), Arc::new(d));
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        for dir in dirs {
            let entries = match std::fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(e) => {
                    problems.push(DriverProblem {
                        path: dir.clone(),
                        key: String::new(),
                        line: None,
                        message: format!("cannot read the driver directory: {e}"),
                    });
                    continue;
                }
            };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) => {
                        problems.push(DriverProblem {
                            path: path.clone(),
                            key: String::new(),
                            line: None,
                            message: format!("cannot read: {e}"),
                        });
                        continue;
                    }
                };
                match parse(&path, &text) {
                    Ok(d) => {
                        drivers.insert(d.name.clone(), Arc::new(d));
                    }
                    Err(mut p) => problems.append(&mut p),
                }
            }
        }
        if problems.is_empty() {
            Ok(Registry { drivers })
        } else {
            Err(DriverErrors(problems))
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Driver>> {
        self.drivers.get(name).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Driver>> {
        self.drivers.values()
    }

    pub fn len(&self) -> usize {
        self.drivers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.drivers.is_empty()
    }
}

impl DriverCatalog for Registry {
    fn kind_of(&self, name: &str) -> Option<DeviceKind> {
        self.drivers.get(name).map(|d| d.kind)
    }
    fn names(&self) -> Vec<String> {
        self.drivers.keys().cloned().collect()
    }
}

/// Parses and checks one driver file.
pub fn parse(path: &Path, text: &str) -> Result<Driver, Vec<DriverProblem>> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let line_of = |key: &str| key_line(text, key);
    let problem = |key: String, message: String| DriverProblem {
        path: path.to_path_buf(),
        line: line_of(&key),
        key,
        message,
    };
    let de = match toml::Deserializer::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            return Err(vec![DriverProblem {
                path: path.to_path_buf(),
                key: String::new(),
                line,
                message: format!("not valid TOML: {}", e.message()),
            }]);
        }
    };
    let parsed: Result<DriverFile, _> = serde_path_to_error::deserialize(de);
    let file = match parsed {
        Ok(f) => f,
        Err(e) => {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            return Err(vec![problem(key, e.inner().message().to_string())]);
        }
    };
    Driver::from_file(file, stem).map_err(|ps| ps.into_iter().map(|(k, m)| problem(k, m)).collect())
}

/// The line of a key path like `charger.states[2].raw` in TOML text: the deepest part of the
/// path found (so a missing key points at its table).
fn key_line(text: &str, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    let doc = toml_edit::Document::parse(text.to_string()).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut best: Option<usize> = None;
    for seg in key.split('.') {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        let Some((k, v)) = table.get_key_value(name) else {
            break;
        };
        if let Some(s) = k.span() {
            best = Some(s.start);
        }
        let next: Option<&dyn toml_edit::TableLike> = match (v, index) {
            (toml_edit::Item::ArrayOfTables(a), Some(i)) => a.get(i).map(|t| {
                if let Some(s) = t.span() {
                    best = Some(s.start);
                }
                t as &dyn toml_edit::TableLike
            }),
            (item, _) => item.as_table_like(),
        };
        match next {
            Some(t) => table = t,
            None => break,
        }
    }
    best.map(|start| text[..start.min(text.len())].matches('\n').count() + 1)
}
