//! The subcommands an installer or the service manager runs. Each returns the process exit code;
//! `main.rs` only parses the command line and calls them.

mod check;
mod demo;
mod drivers;
mod probe;
mod report;
mod simulate;
mod status;

pub use check::check_config;
pub use demo::{DemoOptions, demo};
pub use drivers::drivers;
pub use probe::{ProbeArgs, probe, scan};
pub use report::{ReportArgs, report};
pub use simulate::simulate;
pub use status::status;

/// What went wrong in a command, for the one-line error `main` prints.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Site(#[from] crate::site::SiteLoadError),
    #[error("{0}")]
    Drivers(#[from] crate::driver::DriverErrors),
    #[error("{0}")]
    Bus(#[from] crate::modbus::BusError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Status(#[from] crate::status::StatusError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Other(String),
}
