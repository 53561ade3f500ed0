//! `hubgate report`: operator reports from the daemon's database, read-only (safe while the
//! daemon runs).

use super::CommandError;
use crate::config::{EnvSource, SiteConfig};
use crate::report::load::{local_zone_label, parse_date, period};
use crate::report::render::{Format, render};
use crate::report::zone::parse_fixed_offset;
use crate::report::{ReportContext, ReportError, build, load_input};
use crate::site::load_site;
use crate::store::{Store, now_ms};
use chrono::TimeZone;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `hubgate report`.
#[derive(Debug, Clone, Default)]
pub struct ReportArgs {
    /// First local date, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Local date the period ends before, `YYYY-MM-DD`.
    pub to: Option<String>,
    /// Output format.
    pub format: Format,
    /// Write here instead of to standard output.
    pub output: Option<PathBuf>,
    /// The database; default: the config's.
    pub database: Option<PathBuf>,
    /// The site config (names, tariff, database). Without `--database`, the default config
    /// ([`crate::cli::default_config`]) is read; with `--database` alone, none is.
    pub config: Option<PathBuf>,
    /// `local` (the `TZ` environment or the system's zone) or a fixed offset.
    pub tz: Option<String>,
}

/// Makes the report and writes it.
pub fn report(args: ReportArgs) -> Result<ExitCode, CommandError> {
    let config: Option<SiteConfig> = match (&args.config, &args.database) {
        (Some(path), _) => Some(load_site(path, &EnvSource::Process)?.loaded.config),
        (None, None) => {
            let dir = std::env::var("CONFIGURATION_DIRECTORY").ok();
            let path = crate::cli::default_config(dir.as_deref());
            Some(load_site(&path, &EnvSource::Process)?.loaded.config)
        }
        (None, Some(_)) => None,
    };
    let database = match (&args.database, &config) {
        (Some(p), _) => p.clone(),
        (None, Some(c)) => c.database_path(),
        (None, None) => return Err(CommandError::Usage("no database given".into())),
    };
    let text = match args.tz.as_deref().map(str::trim) {
        None | Some("local") => {
            let label = local_zone_label();
            make(&args, config.as_ref(), &database, &chrono::Local, &label)?
        }
        Some(tz) => {
            let offset = parse_fixed_offset(tz).ok_or_else(|| ReportError::Zone(tz.into()))?;
            make(
                &args,
                config.as_ref(),
                &database,
                &offset,
                &offset.to_string(),
            )?
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn make<Tz: TimeZone>(
    args: &ReportArgs,
    config: Option<&SiteConfig>,
    database: &std::path::Path,
    zone: &Tz,
    label: &str,
) -> Result<String, ReportError> {
    let from = args.from.as_deref().map(parse_date).transpose()?;
    let to = args.to.as_deref().map(parse_date).transpose()?;
    let now = now_ms();
    let (from, to) = period(zone, from, to, now)?;
    let ctx = match config {
        Some(c) => ReportContext::from_config(c, label),
        None => ReportContext {
            zone_label: label.to_string(),
            ..ReportContext::default()
        },
    };
    let store = Store::open_read_only(database)?;
    let input = load_input(store.conn(), &ctx, from, to, now)?;
    render(&build(&input, zone), args.format)
}
