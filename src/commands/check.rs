//! `hubgate check-config`.

use crate::config::{EnvSource, Problem, check_files};
use crate::site::{LoadedSite, SiteLoadError, load_site};
use std::path::Path;
use std::process::ExitCode;

/// Checks the config at `path` (with the process environment's overrides) and the files it
/// names (the OCPP credentials must be readable): prints a summary and returns success, or
/// prints every problem and returns failure.
pub fn check_config(path: &Path) -> ExitCode {
    match check(path) {
        Ok(site) => {
            println!("{}: OK", path.display());
            println!("{}", site.loaded.config.summary());
            for (key, var) in &site.loaded.env_overrides {
                println!("  {key} set by environment variable {var}");
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{}: the site config has problems:", path.display());
            for p in problems {
                eprintln!("  {p}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The loaded site, or every problem as a line to show.
pub fn check(path: &Path) -> Result<LoadedSite, Vec<String>> {
    let site = load_site(path, &EnvSource::Process).map_err(|e| match &e {
        SiteLoadError::Config(c) => c.problems().iter().map(Problem::to_string).collect(),
        other => vec![other.to_string()],
    })?;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let problems = check_files(&site.loaded, &text);
    if problems.is_empty() {
        Ok(site)
    } else {
        Err(problems.iter().map(Problem::to_string).collect())
    }
}
