//! The files a config names, checked where they are (I/O, for `check-config`): a credentials
//! file that is missing, unreadable or empty is an error naming the file, so the uplink never
//! starts without its credentials.

use super::error::Problem;
use super::load::LoadedConfig;
use super::spans::KeyLines;
use std::path::Path;

/// What is wrong with the files `[ocpp]` and `[mqtt]` name (credentials, CA, client certificate
/// and key); `text` is the config file's text, for the lines.
pub fn check_files(loaded: &LoadedConfig, text: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    if let Some(o) = &loaded.config.ocpp {
        files.extend([
            ("ocpp.credentials_file", &o.credentials_file, true),
            ("ocpp.ca_file", &o.ca_file, false),
            ("ocpp.client_cert_file", &o.client_cert_file, false),
            ("ocpp.client_key_file", &o.client_key_file, false),
        ]);
    }
    if let Some(m) = &loaded.config.mqtt {
        files.extend([
            ("mqtt.credentials_file", &m.credentials_file, true),
            ("mqtt.ca_file", &m.ca_file, false),
        ]);
    }
    for (key, path, secret) in files {
        let Some(path) = path else { continue };
        if let Some(message) = unreadable(path, secret) {
            out.push(Problem {
                path: key.to_string(),
                line: None,
                env_var: loaded.env_overrides.get(key).cloned(),
                message,
            });
        }
    }
    if !out.is_empty()
        && let Ok(doc) = toml_edit::Document::parse(text.to_string())
    {
        let lines = KeyLines::index(&doc, text);
        for p in out.iter_mut().filter(|p| p.env_var.is_none()) {
            p.line = lines.line_of(&p.path);
        }
    }
    out
}

/// Why `path` cannot serve (a `secret` must also hold something), or `None`.
fn unreadable(path: &Path, secret: bool) -> Option<String> {
    match std::fs::read(path) {
        Err(e) => Some(format!(
            "cannot read {}: {e} (the service must be able to read it)",
            path.display()
        )),
        Ok(bytes) if secret && String::from_utf8_lossy(&bytes).trim().is_empty() => Some(format!(
            "{} is empty: it must hold the credentials",
            path.display()
        )),
        Ok(_) => None,
    }
}
