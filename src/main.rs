//! `hubgate`: parse the command line and hand over to the library.

use clap::Parser;
use hubgate::cli::{Cli, Command};
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

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { path } => Ok(hubgate::commands::check_config(&path)),
        Command::Run { config } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(hubgate::daemon::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
