//! Loading a site: its driver files first (the config names drivers), then the config.

use crate::config::{ConfigError, EnvSource, LoadedConfig, load_str};
use crate::driver::{DriverErrors, Registry};
use std::path::{Path, PathBuf};

/// A config that passed every check, with the drivers it was checked against.
#[derive(Debug, Clone)]
pub struct LoadedSite {
    pub loaded: LoadedConfig,
    pub registry: Registry,
}

/// Why a site could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SiteLoadError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Drivers(DriverErrors),
    #[error("{0}")]
    Config(ConfigError),
}

/// Loads the config file at `path` with environment overrides from `env`.
pub fn load_site(path: &Path, env: &EnvSource) -> Result<LoadedSite, SiteLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| SiteLoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_site_str(&text, path, env)
}

/// Loads config `text` (`path` names it in messages).
pub fn load_site_str(
    text: &str,
    path: &Path,
    env: &EnvSource,
) -> Result<LoadedSite, SiteLoadError> {
    let dirs = driver_dirs(text, path);
    let registry = Registry::load(&dirs).map_err(SiteLoadError::Drivers)?;
    let loaded = load_str(text, path, env, &registry).map_err(SiteLoadError::Config)?;
    Ok(LoadedSite { loaded, registry })
}

/// The `[drivers] dirs` of a config, relative paths taken from the config file's directory.
/// A config too broken to read them is reported by the full load that follows.
fn driver_dirs(text: &str, path: &Path) -> Vec<PathBuf> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let base = path.parent().unwrap_or(Path::new("."));
    table
        .get("drivers")
        .and_then(|d| d.get("dirs"))
        .and_then(|d| d.as_array())
        .map(|dirs| {
            dirs.iter()
                .filter_map(|d| d.as_str())
                .map(|d| base.join(d))
                .collect()
        })
        .unwrap_or_default()
}
