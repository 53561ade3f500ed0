//! `hubgate check-config`.

use crate::config::EnvSource;
use crate::site::{SiteLoadError, load_site};
use std::path::Path;
use std::process::ExitCode;

/// Checks the config at `path` (with the process environment's overrides): prints a summary and
/// returns success, or prints every problem and returns failure.
pub fn check_config(path: &Path) -> ExitCode {
    match load_site(path, &EnvSource::Process) {
        Ok(site) => {
            println!("{}: OK", path.display());
            println!("{}", site.loaded.config.summary());
            for (key, var) in &site.loaded.env_overrides {
                println!("  {key} set by environment variable {var}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: the site config has problems:", path.display());
            match &e {
                SiteLoadError::Config(c) => {
                    for p in c.problems() {
                        eprintln!("  {p}");
                    }
                }
                other => eprintln!("  {other}"),
            }
            ExitCode::FAILURE
        }
    }
}
