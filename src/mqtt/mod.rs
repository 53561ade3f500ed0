//! MQTT: live telemetry, alerts and commands (an external limit, pausing chargers).
//!
//! The topic tree is documented in `docs/mqtt.md`. The pure parts: [`topics`] (what goes where),
//! [`alerts`] (raised and cleared once each), [`commands`] (validation). [`client`] owns the
//! connection.

pub mod alerts;
pub mod client;
pub mod commands;
pub mod persist;
pub mod signed;
pub mod storage;
pub mod tls;
pub mod topics;

use crate::config::SiteConfig;
use crate::limits::ExternalLimits;
use crate::phase::PerPhase;
use crate::view::SiteView;
use std::path::{Path, PathBuf};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why MQTT could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("mqtt.broker {0}: use mqtt://host[:port] or mqtts://host[:port]")]
    Url(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Credentials { path: PathBuf, message: String },
    #[error("TLS: {0}")]
    Tls(String),
}

/// Username/password and/or a client certificate, from the credentials file (TOML:
/// `username`, `password`, `client_cert`, `client_key`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl Credentials {
    pub fn load(path: &Path) -> Result<Credentials, MqttError> {
        let text = std::fs::read_to_string(path).map_err(|source| MqttError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| MqttError::Credentials {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
    }
}

/// TLS towards the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// CA bundle; `None` = the bundled web PKI roots.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Security {
    Plain,
    Tls(TlsSettings),
}

/// Everything the MQTT task needs.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// The URL as configured (for logs).
    pub broker: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<Credentials>,
    pub client_id: String,
    pub prefix: String,
    pub home_assistant: bool,
    pub site_id: String,
    pub site_name: String,
    pub grid_limit_a: PerPhase<f64>,
    pub chargers: Vec<String>,
    pub alerts: alerts::AlertSettings,
    /// Where the TLS bridge puts its socket.
    pub runtime_dir: PathBuf,
    /// The database, whose file system's fill level raises `storage_nearly_full`.
    pub database: Option<PathBuf>,
    /// The daily summary's source: published at start and after each local midnight.
    pub daily_report: Option<crate::report::daily::DailySource>,
    /// Where the external limit and the pauses are kept across a restart (beside the database).
    pub state_file: Option<PathBuf>,
    /// With `command_hmac_key_file`: only signed commands are taken (`signed.rs`).
    pub command_key: Option<signed::CommandKey>,
    /// The wall clock that dates limits (expiry itself runs on the monotonic clock).
    pub wall_clock: persist::WallClock,
}

impl MqttSettings {
    /// The settings of `config`'s `[mqtt]`, if any.
    pub fn from_config(
        config: &SiteConfig,
        runtime_dir: &Path,
    ) -> Result<Option<MqttSettings>, MqttError> {
        let Some(m) = &config.mqtt else {
            return Ok(None);
        };
        let (tls, rest) = if let Some(r) = m.broker.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = m.broker.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(MqttError::Url(m.broker.clone()));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| MqttError::Url(m.broker.clone()))?),
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() {
            return Err(MqttError::Url(m.broker.clone()));
        }
        let credentials = m
            .credentials_file
            .as_deref()
            .map(Credentials::load)
            .transpose()?;
        let command_key = m
            .command_hmac_key_file
            .as_deref()
            .map(load_command_key)
            .transpose()?;
        Ok(Some(MqttSettings {
            broker: m.broker.clone(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            security: if tls {
                Security::Tls(TlsSettings {
                    ca_file: m.ca_file.clone(),
                })
            } else {
                Security::Plain
            },
            credentials,
            client_id: format!("hubgate-{}", config.site.id),
            prefix: m
                .topic_prefix
                .clone()
                .unwrap_or_else(|| format!("hubgate/{}", config.site.id)),
            home_assistant: m.home_assistant,
            site_id: config.site.id.clone(),
            site_name: config.site.name.clone(),
            grid_limit_a: config.site.grid_limit_a.0,
            chargers: config.chargers.iter().map(|c| c.name.clone()).collect(),
            alerts: alerts::AlertSettings::default(),
            runtime_dir: runtime_dir.to_path_buf(),
            database: Some(config.database_path()),
            daily_report: Some(crate::report::daily::DailySource {
                database: config.database_path(),
                context: crate::report::ReportContext::from_config(
                    config,
                    &crate::report::load::local_zone_label(),
                ),
            }),
            command_key,
            state_file: Some(persist::state_file_for(&config.database_path())),
            wall_clock: persist::WallClock::default(),
        }))
    }
}

fn load_command_key(path: &Path) -> Result<signed::CommandKey, MqttError> {
    let text = std::fs::read_to_string(path).map_err(|source| MqttError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    signed::CommandKey::from_text(&text).map_err(|message| MqttError::Credentials {
        path: path.to_path_buf(),
        message,
    })
}

/// Starts the MQTT task.
pub fn spawn(
    settings: MqttSettings,
    view: watch::Receiver<SiteView>,
    limits: watch::Sender<ExternalLimits>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(client::run(settings, view, limits, stop))
}

/// Where private sockets go: systemd's `RuntimeDirectory`, else the temp directory.
pub fn runtime_dir() -> PathBuf {
    std::env::var("RUNTIME_DIRECTORY")
        .ok()
        .and_then(|d| d.split(':').next().map(PathBuf::from))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(std::env::temp_dir)
}

/// A running MQTT task and the switch that stops it.
pub struct MqttTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MqttTask {
    /// Starts MQTT when `config` has an `[mqtt]` section.
    pub fn start(
        config: &SiteConfig,
        view: watch::Receiver<SiteView>,
        limits: watch::Sender<ExternalLimits>,
    ) -> Result<Option<MqttTask>, MqttError> {
        let Some(settings) = MqttSettings::from_config(config, &runtime_dir())? else {
            return Ok(None);
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = spawn(settings, view, limits, stop_rx);
        Ok(Some(MqttTask {
            stop: stop_tx,
            task,
        }))
    }

    /// Publishes `offline`, disconnects and waits for the task (bounded).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}
