//! `hubgate`: parse the command line and hand over to the library.

use clap::Parser;
use hubgate::cli::Cli;
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
    anyhow::bail!("{:?}: this build has no device drivers yet", cli.command)
}
