//! The command line: one subcommand per job an installer or the service manager runs.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Default config path of an installed gateway.
pub const DEFAULT_CONFIG: &str = "/etc/hubgate/site.toml";

#[derive(Debug, Parser)]
#[command(
    name = "hubgate",
    version,
    about = "Edge site controller for EV charging hubs",
    long_about = "Edge site controller for EV charging hubs: talks Modbus to chargers and meters, \
                  balances their currents against the grid limit every second, keeps sessions \
                  working offline and presents the site to the CSMS as one OCPP charge point."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the site controller (what the systemd service starts).
    Run {
        /// Site config file.
        #[arg(long, short, default_value = DEFAULT_CONFIG, env = "HUBGATE_CONFIG")]
        config: PathBuf,
    },
    /// Check a site config: print a summary and exit 0, or print every problem and exit 1.
    CheckConfig {
        /// Site config file.
        #[arg(default_value = DEFAULT_CONFIG)]
        path: PathBuf,
    },
}
