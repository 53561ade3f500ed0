//! The local status socket: the running daemon answers `hubgate status` with its latest
//! [`SiteView`] as one JSON line. The socket lives in the runtime directory
//! (`$RUNTIME_DIRECTORY/hubgate.sock`, else `/run/hubgate/hubgate.sock`).

use crate::view::SiteView;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot listen on {path}: {source}")]
    Listen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot reach the daemon at {path}: {source} (is `hubgate run` active?)")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no answer from the daemon at {0} within the timeout")]
    Timeout(PathBuf),
    #[error("the daemon's answer could not be read: {0}")]
    Decode(String),
}

/// Where the socket goes: `$RUNTIME_DIRECTORY/hubgate.sock`, else `/run/hubgate/hubgate.sock`.
pub fn default_socket_path(runtime_directory: Option<&str>) -> PathBuf {
    let dir = runtime_directory
        .and_then(|s| s.split(':').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("/run/hubgate");
    Path::new(dir).join("hubgate.sock")
}

/// Bind the socket (replacing a stale one left by a crash) and answer every connection with the
/// latest view. Runs until the view sender is dropped.
pub async fn serve(path: &Path, view: watch::Receiver<SiteView>) -> Result<(), StatusError> {
    if path.exists() {
        // A live daemon would answer; a dead one left its socket behind.
        if UnixStream::connect(path).await.is_err() {
            let _ = std::fs::remove_file(path);
        }
    }
    let listener = UnixListener::bind(path).map_err(|source| StatusError::Listen {
        path: path.to_path_buf(),
        source,
    })?;
    let mut closed = view.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let snapshot = view.borrow().clone();
                tokio::spawn(answer(stream, snapshot));
            }
            changed = closed.changed() => {
                if changed.is_err() {
                    let _ = std::fs::remove_file(path);
                    return Ok(());
                }
            }
        }
    }
}

async fn answer(mut stream: UnixStream, view: SiteView) {
    let mut line = match serde_json::to_string(&view) {
        Ok(s) => s,
        Err(e) => format!("{{\"error\":\"{e}\"}}"),
    };
    line.push('\n');
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(line.as_bytes())).await;
}

/// Ask a running daemon for its view.
pub async fn fetch(path: &Path, timeout: Duration) -> Result<SiteView, StatusError> {
    let work = async {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| StatusError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .await
            .map_err(|e| StatusError::Decode(e.to_string()))?;
        serde_json::from_str(&line).map_err(|e| StatusError::Decode(e.to_string()))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| StatusError::Timeout(path.to_path_buf()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_latest_view_and_replaces_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hubgate.sock");
        // A socket file left behind by a dead daemon.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let (tx, rx) = watch::channel(SiteView::default());
        let server = tokio::spawn({
            let path = path.clone();
            async move { serve(&path, rx).await }
        });
        tx.send_modify(|v| {
            v.site_id = "s1".into();
            v.cycle = 42;
        });
        let got = loop {
            match fetch(&path, Duration::from_secs(2)).await {
                Ok(v) => break v,
                Err(StatusError::Connect { .. }) => tokio::task::yield_now().await,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!((got.site_id.as_str(), got.cycle), ("s1", 42));
        drop(tx);
        server.await.unwrap().unwrap();
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_missing_daemon_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = fetch(&dir.path().join("none.sock"), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("is `hubgate run` active?"),
            "{err}"
        );
    }
}
