//! Loading a site config: the file, then `HUBGATE__SECTION__KEY` environment overrides, then the
//! schema (every problem collected, with its key path and line), then the cross-reference checks.

use super::error::{ConfigError, Problem, suggestion};
use super::range::not_finite;
use super::schema::{self, SECTIONS, SiteConfig};
use super::spans::{KeyLines, non_finite_floats};
use super::validate::{self, DriverCatalog};
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Prefix of environment overrides: `HUBGATE__OCPP__CSMS_URL` sets `ocpp.csms_url`.
pub const ENV_PREFIX: &str = "HUBGATE";

/// A config that passed every check, with what is needed to point back into the file.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: SiteConfig,
    pub path: PathBuf,
    /// Key paths set from the environment, with the variable that set them.
    pub env_overrides: BTreeMap<String, String>,
}

/// Where environment overrides come from: the process, or a given map (tests, `demo`).
#[derive(Debug, Clone, Default)]
pub enum EnvSource {
    #[default]
    Process,
    Map(HashMap<String, String>),
}

impl EnvSource {
    fn vars(&self) -> HashMap<String, String> {
        match self {
            EnvSource::Process => std::env::vars().collect(),
            EnvSource::Map(m) => m.clone(),
        }
    }
}

/// Load and check the config file at `path`.
pub fn load_file(
    path: &Path,
    env: &EnvSource,
    drivers: &dyn DriverCatalog,
) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&text, path, env, drivers)
}

/// Load and check config `text`; `path` names it in messages.
pub fn load_str(
    text: &str,
    path: &Path,
    env: &EnvSource,
    drivers: &dyn DriverCatalog,
) -> Result<LoadedConfig, ConfigError> {
    let doc = toml_edit::Document::parse(text.to_string()).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1);
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            message: e.message().to_string(),
        }
    })?;
    let lines = KeyLines::index(&doc, text);
    let vars = env.vars();
    let env_overrides = overrides(&vars);

    let merged = merge(text, vars.clone()).map_err(|message| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems: vec![Problem {
            path: String::new(),
            line: None,
            env_var: None,
            message,
        }],
    })?;

    // `nan` and `inf` do not survive the merge (JSON has no such numbers): find them first, in
    // the file and in the environment, and let no later message about the same key hide them.
    let mut problems = non_finite(&doc, &vars);
    let early: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
    let mut later = Vec::new();
    let config = typed(merged, &mut later);
    if let Some(cfg) = &config {
        later.extend(validate::check(cfg, drivers));
    }
    problems.extend(later.into_iter().filter(|p| !early.contains(&p.path)));
    for p in &mut problems {
        p.env_var = env_var_for(&p.path, &env_overrides);
        if p.env_var.is_none() {
            p.line = lines.line_of(&p.path);
        }
    }
    match config {
        Some(config) if problems.is_empty() => Ok(LoadedConfig {
            config,
            path: path.to_path_buf(),
            env_overrides,
        }),
        _ => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        }),
    }
}

/// Numbers that are not finite, in the file or in a `HUBGATE__...` variable.
fn non_finite(doc: &toml_edit::Document<String>, vars: &HashMap<String, String>) -> Vec<Problem> {
    let mut out: Vec<Problem> = non_finite_floats(doc)
        .into_iter()
        .map(|(key, text)| problem(&key, not_finite(&text)))
        .collect();
    for (key, var) in overrides(vars) {
        let value = vars.get(&var).map(|v| v.trim()).unwrap_or_default();
        if value.parse::<f64>().is_ok_and(|v| !v.is_finite()) {
            out.retain(|p| p.path != key);
            out.push(problem(&key, not_finite(value)));
        }
    }
    out
}

/// Key paths set by `HUBGATE__...` variables.
fn overrides(vars: &HashMap<String, String>) -> BTreeMap<String, String> {
    let prefix = format!("{ENV_PREFIX}__");
    vars.keys()
        .filter_map(|k| {
            let rest = k.strip_prefix(&prefix)?;
            Some((rest.to_lowercase().replace("__", "."), k.clone()))
        })
        .collect()
}

fn env_var_for(path: &str, env: &BTreeMap<String, String>) -> Option<String> {
    env.get(path).cloned()
}

/// File + environment, merged by the `config` crate, as a JSON tree.
fn merge(text: &str, vars: HashMap<String, String>) -> Result<Json, String> {
    let env = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .source(Some(vars.into_iter().collect()));
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(env)
        .build()
        .and_then(|c| c.try_deserialize::<Json>())
        .map_err(|e| e.to_string())
}

/// Deserialize section by section (and array element by element) so that one bad key does not
/// hide the others.
fn typed(merged: Json, problems: &mut Vec<Problem>) -> Option<SiteConfig> {
    let Json::Object(mut top) = merged else {
        problems.push(problem("", "the config must be a TOML table".into()));
        return None;
    };
    let before = problems.len();
    for key in top.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            problems.push(problem(
                key,
                format!(
                    "unknown section `{key}`{}",
                    suggestion(key, SECTIONS.iter().copied())
                ),
            ));
        }
    }
    let site = match top.remove("site") {
        Some(v) => collect::<schema::Site>(v, "site", problems),
        None => {
            problems.push(problem("site", "the `[site]` section is required".into()));
            None
        }
    };
    let control = section(&mut top, "control", problems);
    let storage = section(&mut top, "storage", problems);
    let auth = section(&mut top, "auth", problems);
    let log = section(&mut top, "log", problems);
    let drivers = section(&mut top, "drivers", problems);
    let ocpp = optional(&mut top, "ocpp", problems);
    let mqtt = optional(&mut top, "mqtt", problems);
    let tariff = optional(&mut top, "tariff", problems);
    let buses = list(&mut top, "buses", problems);
    let circuits = list(&mut top, "circuits", problems);
    let meters = list(&mut top, "meters", problems);
    let chargers = list(&mut top, "chargers", problems);
    if problems.len() > before {
        return None;
    }
    Some(SiteConfig {
        site: site?,
        control: control?,
        buses: buses?,
        circuits: circuits?,
        meters: meters?,
        chargers: chargers?,
        ocpp: ocpp?,
        mqtt: mqtt?,
        storage: storage?,
        auth: auth?,
        tariff: tariff?,
        log: log?,
        drivers: drivers?,
    })
}

fn section<T: DeserializeOwned + Default>(
    top: &mut serde_json::Map<String, Json>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match top.remove(key) {
        None => Some(T::default()),
        Some(v) => collect(v, key, problems),
    }
}

fn optional<T: DeserializeOwned>(
    top: &mut serde_json::Map<String, Json>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<Option<T>> {
    match top.remove(key) {
        None => Some(None),
        Some(v) => collect(v, key, problems).map(Some),
    }
}

fn list<T: DeserializeOwned>(
    top: &mut serde_json::Map<String, Json>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<T>> {
    match top.remove(key) {
        None => Some(Vec::new()),
        Some(Json::Array(items)) => {
            let n = items.len();
            let out: Vec<T> = items
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| collect(v, &format!("{key}[{i}]"), problems))
                .collect();
            (out.len() == n).then_some(out)
        }
        Some(_) => {
            problems.push(problem(
                key,
                format!("`{key}` must be a list of tables: write each entry as `[[{key}]]`"),
            ));
            None
        }
    }
}

/// Deserialize `value` as `T`, collecting every unknown or ill-typed key: each bad key is
/// reported, taken out, and the rest tried again.
fn collect<T: DeserializeOwned>(
    mut value: Json,
    base: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..64 {
        let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(t) => return if removed.is_empty() { Some(t) } else { None },
            Err(e) => e,
        };
        let inner = err.path().to_string();
        let msg = err.inner().to_string();
        let rel = if inner == "." { String::new() } else { inner };
        if let Some(field) = quoted_after(&msg, "unknown field ") {
            // The path already ends with the unknown key.
            let expected = expected_names(&msg);
            problems.push(problem(
                &join(base, &rel),
                format!(
                    "unknown key `{field}`{}",
                    suggestion(&field, expected.iter().map(String::as_str))
                ),
            ));
            if rel.is_empty() || !remove(&mut value, &rel) {
                return None;
            }
            removed.push(rel);
            continue;
        }
        if let Some(field) = quoted_after(&msg, "missing field ") {
            let rel_field = join(&rel, &field);
            if !removed.contains(&rel_field) {
                problems.push(problem(
                    &join(base, &rel_field),
                    format!("required key `{field}` is missing"),
                ));
            }
            return None;
        }
        problems.push(problem(&join(base, &rel), friendly(&msg)));
        if rel.is_empty() || !remove(&mut value, &rel) {
            return None;
        }
        removed.push(rel);
    }
    None
}

fn problem(path: &str, message: String) -> Problem {
    Problem {
        path: path.to_string(),
        line: None,
        env_var: None,
        message,
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    }
}

/// The backtick-quoted word after `marker` in a serde message.
fn quoted_after(msg: &str, marker: &str) -> Option<String> {
    let rest = &msg[msg.find(marker)? + marker.len()..];
    let rest = rest.strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_string())
}

/// The names in "expected one of `a`, `b`" / "expected `a`".
fn expected_names(msg: &str) -> Vec<String> {
    let Some(i) = msg.find("expected") else {
        return Vec::new();
    };
    msg[i..]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Serde's wording, made to read as advice.
fn friendly(msg: &str) -> String {
    let msg = msg.replace("invalid type: ", "wrong type: found ");
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// Remove the key at a relative path like `a.b[2].c` from a JSON tree.
fn remove(value: &mut Json, rel: &str) -> bool {
    let segs = segments(rel);
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut cur = value;
    for s in parents {
        cur = match (s, cur) {
            (Seg::Key(k), Json::Object(m)) => match m.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Seg::Index(i), Json::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur) {
        (Seg::Key(k), Json::Object(m)) => m.remove(k).is_some(),
        (Seg::Index(i), Json::Array(a)) if *i < a.len() => {
            // An element of a list: replace the whole list's bad entry by removing the list key is
            // not possible from here, so drop the element (the list is reported as invalid anyway).
            a.remove(*i);
            true
        }
        _ => false,
    }
}

enum Seg {
    Key(String),
    Index(usize),
}

fn segments(rel: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in rel.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Seg::Key(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                if let Ok(n) = stripped[..end].parse() {
                    out.push(Seg::Index(n));
                }
                rest = &stripped[end + 1..];
            }
        } else {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}
