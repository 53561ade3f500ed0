//! The command line: one subcommand per job an installer or the service manager runs.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Default config path of an installed gateway.
pub const DEFAULT_CONFIG: &str = "/etc/hubgate/site.toml";

/// The config file to use when none is given: `$CONFIGURATION_DIRECTORY/site.toml` under systemd,
/// else [`DEFAULT_CONFIG`].
pub fn default_config(configuration_directory: Option<&str>) -> PathBuf {
    configuration_directory
        .and_then(|d| d.split(':').next())
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("site.toml"))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

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
        /// Default: `$HUBGATE_CONFIG`, else `$CONFIGURATION_DIRECTORY/site.toml` (systemd's
        /// ConfigurationDirectory=), else /etc/hubgate/site.toml.
        #[arg(long, short, env = "HUBGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check a site config: print a summary and exit 0, or print every problem and exit 1.
    CheckConfig {
        /// Site config file.
        /// Default as for `run`.
        path: Option<PathBuf>,
    },
    /// Run the built-in demo site: simulated chargers, meters and cars under the real controller,
    /// shown live in the terminal.
    Demo {
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration: Option<f64>,
        /// At the end, print a JSON record of every control cycle instead of the live view.
        #[arg(long)]
        json: bool,
        /// Keep the demo's history in this SQLite file (default: a temporary file).
        #[arg(long)]
        database: Option<PathBuf>,
        /// Run another site config with simulated devices instead of the built-in demo site.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed of the simulation (cars, loads).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Serve every charger and meter of a site config as simulated Modbus devices.
    Simulate {
        /// Site config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Seed of the simulation (cars, loads).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// No cars arrive by themselves.
        #[arg(long)]
        no_traffic: bool,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration: Option<f64>,
    },
    /// Read one device with a driver and print every value it decodes.
    Probe {
        /// Driver name (see `hubgate drivers`).
        #[arg(long)]
        driver: String,
        #[command(flatten)]
        line: LineArgs,
        /// Modbus unit id.
        #[arg(long)]
        unit: u8,
        /// Write this current limit (A) to a charger before reading it back.
        #[arg(long)]
        set_current: Option<f64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Extra driver directories.
        #[arg(long = "drivers")]
        driver_dirs: Vec<PathBuf>,
    },
    /// Find which unit ids answer on a bus.
    Scan {
        #[command(flatten)]
        line: LineArgs,
        /// First unit id to try.
        #[arg(long, default_value_t = 1)]
        from: u8,
        /// Last unit id to try.
        #[arg(long, default_value_t = 247)]
        to: u8,
        /// Register read to see whether a unit answers.
        #[arg(long, default_value_t = 0)]
        register: u16,
        /// Read input registers (FC04) instead of holding registers (FC03).
        #[arg(long)]
        input: bool,
    },
    /// List the device drivers, or show one.
    Drivers {
        /// A driver name: show its details.
        name: Option<String>,
        /// Extra driver directories.
        #[arg(long = "drivers")]
        driver_dirs: Vec<PathBuf>,
    },
    /// Show the live site view of the running daemon.
    Status {
        /// The daemon's status socket (default: in its runtime directory).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Print JSON instead of the terminal view.
        #[arg(long)]
        json: bool,
    },
}

/// How to reach one bus from the command line.
#[derive(Debug, Clone, clap::Args)]
#[group(skip)]
pub struct LineArgs {
    /// Modbus TCP endpoint HOST:PORT.
    #[arg(long, group = "endpoint")]
    pub tcp: Option<String>,
    /// RTU framing over TCP (a serial gateway in transparent mode), HOST:PORT.
    #[arg(long, group = "endpoint")]
    pub rtu_over_tcp: Option<String>,
    /// Serial device for Modbus RTU.
    #[arg(long, group = "endpoint")]
    pub serial: Option<PathBuf>,
    /// Serial baud rate.
    #[arg(long, default_value_t = 9600)]
    pub baud: u32,
    /// Serial parity: none, even or odd.
    #[arg(long, default_value = "none")]
    pub parity: String,
    /// Serial stop bits (1 or 2).
    #[arg(long, default_value_t = 1)]
    pub stop_bits: u8,
    /// Request timeout (ms).
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_defaults_to_systemds_configuration_directory() {
        assert_eq!(
            default_config(Some("/etc/hubgate")),
            PathBuf::from("/etc/hubgate/site.toml")
        );
        assert_eq!(default_config(Some("/a:/b")), PathBuf::from("/a/site.toml"));
        assert_eq!(default_config(Some("")), PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(default_config(None), PathBuf::from(DEFAULT_CONFIG));
    }
}
