//! The site config: schema, loading (file + environment), and validation an installer can act on.

mod error;
mod files;
mod load;
pub mod range;
pub mod schema;
pub mod secret;
mod spans;
mod validate;

pub use error::{ConfigError, Problem, did_you_mean};
pub use files::check_files;
pub use load::{ENV_PREFIX, EnvSource, LoadedConfig, load_file, load_str};
pub use schema::*;
pub use validate::{DeviceKind, DriverCatalog, IEC_MIN_CURRENT_A, check, parse_hhmm};

use std::path::{Path, PathBuf};

/// Where the database goes when `[storage] database` is not set: `$STATE_DIRECTORY/hubgate.db`
/// (systemd's StateDirectory=), else `/var/lib/hubgate/hubgate.db`.
pub fn default_database_path(state_directory: Option<&str>) -> PathBuf {
    let dir = state_directory
        .and_then(|s| s.split(':').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("/var/lib/hubgate");
    Path::new(dir).join("hubgate.db")
}

impl SiteConfig {
    /// The database path in force for this config.
    pub fn database_path(&self) -> PathBuf {
        self.storage.database.clone().unwrap_or_else(|| {
            default_database_path(std::env::var("STATE_DIRECTORY").ok().as_deref())
        })
    }

    /// One line describing the site, for `check-config`, logs and systemd's STATUS=.
    pub fn summary(&self) -> String {
        let l = self.site.grid_limit_a.0;
        let limit = if l.0[0] == l.0[1] && l.0[1] == l.0[2] {
            format!("{} A", l.0[0])
        } else {
            format!("{}/{}/{} A", l.0[0], l.0[1], l.0[2])
        };
        format!(
            "site {} ({}): grid {limit} per phase, {} charger{}, {} meter{}, {} circuit{}, {} bus{}{}",
            self.site.id,
            self.site.name,
            self.chargers.len(),
            plural(self.chargers.len()),
            self.meters.len(),
            plural(self.meters.len()),
            self.circuits.len(),
            plural(self.circuits.len()),
            self.buses.len(),
            if self.buses.len() == 1 { "" } else { "es" },
            match &self.ocpp {
                Some(o) => format!(", OCPP to {}", secret::redact_url(&o.csms_url)),
                None => String::new(),
            }
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
