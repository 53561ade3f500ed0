//! `hubgate drivers`: what device models hubgate knows.

use super::CommandError;
use crate::driver::{Driver, Registry};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Lists the drivers (built in and from `dirs`), or shows the one named `name`.
pub fn drivers(name: Option<&str>, dirs: &[PathBuf]) -> Result<ExitCode, CommandError> {
    let registry = Registry::load(dirs)?;
    match name {
        None => {
            print!("{}", list(&registry));
            Ok(ExitCode::SUCCESS)
        }
        Some(name) => match registry.get(name) {
            Some(d) => {
                print!("{}", show(&d));
                Ok(ExitCode::SUCCESS)
            }
            None => Err(CommandError::Usage(format!(
                "no driver named {name}{}",
                crate::config::did_you_mean(name, registry.iter().map(|d| d.name.as_str()))
                    .map(|s| format!("; did you mean {s}?"))
                    .unwrap_or_default()
            ))),
        },
    }
}

/// One line per driver: name, kind, vendor and model, source document.
pub fn list(registry: &Registry) -> String {
    let mut drivers: Vec<_> = registry.iter().collect();
    drivers.sort_by(|a, b| (a.kind_name(), &a.name).cmp(&(b.kind_name(), &b.name)));
    let width = drivers.iter().map(|d| d.name.len()).max().unwrap_or(4);
    let mut out = String::new();
    for d in drivers {
        let _ = writeln!(
            out,
            "{:<width$}  {:<7}  {} {}",
            d.name,
            d.kind_name(),
            d.vendor,
            d.model
        );
    }
    out
}

/// Everything about one driver an installer may want to know.
pub fn show(d: &Driver) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}): {} {}",
        d.name,
        d.kind_name(),
        d.vendor,
        d.model
    );
    let _ = writeln!(out, "source: {}", d.source_citation());
    if let Some(notes) = &d.notes {
        let _ = writeln!(out, "notes: {notes}");
    }
    let _ = writeln!(out, "reads ({} requests per poll):", d.read_plan().len());
    for b in d.read_plan() {
        let _ = writeln!(out, "  {:?} {:#06x} x{}", b.kind, b.address, b.count);
    }
    let _ = writeln!(out, "values:");
    for line in d.describe_values() {
        let _ = writeln!(out, "  {line}");
    }
    for line in d.describe_charger() {
        let _ = writeln!(out, "{line}");
    }
    out
}
