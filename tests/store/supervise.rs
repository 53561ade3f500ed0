//! The supervised writer on real files: it answers at once while the database cannot be used,
//! reopens it once it can, and notices the file being deleted under it.

use super::support::temp_db;
use hubgate::store::{StoreError, SuperviseOptions, supervise};
use std::time::Duration;

fn options() -> SuperviseOptions {
    SuperviseOptions {
        retry_min: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        check_every: Duration::from_millis(50),
        ..SuperviseOptions::default()
    }
}

async fn until_available(w: &hubgate::store::WriterHandle, available: bool) {
    let mut health = w.health();
    tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|h| h.available == available),
    )
    .await
    .expect("bounded")
    .expect("writer running");
}

#[tokio::test]
async fn a_damaged_file_is_refused_at_once_and_used_once_replaced() {
    let (_dir, path) = temp_db();
    std::fs::write(&path, b"not a database at all, but long enough to be read as a header......................................").unwrap();
    let w = supervise(path.clone(), options()).unwrap();
    until_available(&w, false).await;
    let fault = w.health().borrow().fault.clone().unwrap_or_default();
    assert!(fault.contains("hubgate.db"), "{fault}");
    let err = w.set_setting("k", "v", 1).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(err.is_storage_fault());

    std::fs::remove_file(&path).unwrap();
    until_available(&w, true).await;
    w.set_setting("k", "v", 1).await.unwrap();
    assert_eq!(w.setting("k").await.unwrap().as_deref(), Some("v"));
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_file_deleted_under_the_writer_is_noticed_and_recreated() {
    let (_dir, path) = temp_db();
    let w = supervise(path.clone(), options()).unwrap();
    w.set_setting("k", "v", 1).await.unwrap();
    let opened = w.health().borrow().since_ms;
    let mut health = w.health();
    for side in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", path.display()));
    }
    // Open again later than the first time: the deletion was noticed and the file recreated.
    tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|h| h.available && h.since_ms > opened),
    )
    .await
    .expect("the deletion noticed")
    .unwrap();
    assert!(path.exists(), "a new database");
    assert_eq!(w.setting("k").await.unwrap(), None, "a new, empty database");
    w.shutdown().await.unwrap();
}
