//! `hubgate`: parse the command line and hand over to the library.

use clap::Parser;
use hubgate::cli::{Cli, Command};
use hubgate::commands::{self, DemoOptions};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_default() -> std::path::PathBuf {
    hubgate::cli::default_config(std::env::var("CONFIGURATION_DIRECTORY").ok().as_deref())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Logging for the interactive commands: warnings only, so it does not scribble over the output.
fn quiet_logging() {
    hubgate::service::init_logging("warn");
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { path } => {
            Ok(commands::check_config(&path.unwrap_or_else(config_default)))
        }
        Command::Run { config } => {
            runtime()?.block_on(hubgate::daemon::run(config.unwrap_or_else(config_default)))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            duration,
            json,
            database,
            config,
            seed,
        } => {
            quiet_logging();
            let options = DemoOptions {
                duration,
                json,
                database,
                config,
                seed,
            };
            Ok(runtime()?.block_on(commands::demo(options))?)
        }
        Command::Simulate {
            config,
            seed,
            no_traffic,
            duration,
        } => {
            hubgate::service::init_logging("info");
            Ok(runtime()?.block_on(commands::simulate(&config, seed, !no_traffic, duration))?)
        }
        Command::Probe {
            driver,
            line,
            unit,
            set_current,
            json,
            driver_dirs,
        } => {
            quiet_logging();
            let args = commands::ProbeArgs {
                driver,
                line,
                unit,
                set_current,
                json,
                driver_dirs,
            };
            Ok(runtime()?.block_on(commands::probe(args))?)
        }
        Command::Scan {
            line,
            from,
            to,
            register,
            input,
        } => {
            quiet_logging();
            Ok(runtime()?.block_on(commands::scan(&line, from, to, register, input))?)
        }
        Command::Drivers { name, driver_dirs } => {
            Ok(commands::drivers(name.as_deref(), &driver_dirs)?)
        }
        Command::Status { socket, json } => {
            Ok(runtime()?.block_on(commands::status(socket, json))?)
        }
    }
}
