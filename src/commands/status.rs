//! `hubgate status`: the running daemon's live view.

use super::CommandError;
use crate::status::{default_socket_path, fetch};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Prints the daemon's site view from its status socket.
pub async fn status(socket: Option<PathBuf>, json: bool) -> Result<ExitCode, CommandError> {
    let path = socket
        .unwrap_or_else(|| default_socket_path(std::env::var("RUNTIME_DIRECTORY").ok().as_deref()));
    let view = fetch(&path, Duration::from_secs(3)).await?;
    if json {
        let text =
            serde_json::to_string_pretty(&view).map_err(|e| CommandError::Other(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", crate::view::render(&view));
    }
    Ok(ExitCode::SUCCESS)
}
