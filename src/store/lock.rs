//! One daemon per database: an exclusive `flock` on a lock file beside the database
//! (`hubgate.db.lock`), held for the life of the process and released by the kernel when it
//! ends, however it ends. The lock file holds the PID of its holder, so a second daemon can say
//! which process runs already. Where no lock file can be created (a read-only directory), the
//! directory itself is locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "another hubgate ({}) already runs on {database}: it holds {lock}; stop it first",
        pid.map_or_else(|| "PID unknown".to_string(), |p| format!("PID {p}"))
    )]
    Held {
        database: PathBuf,
        lock: PathBuf,
        pid: Option<u32>,
    },
    /// Neither the lock file nor the directory could be opened or locked.
    #[error("{path}: cannot take the single-instance lock: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// The file (or directory) locked.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of the database at `database`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Take the lock of the database at `database` for this process (PID `pid`).
pub fn acquire(database: &Path, pid: u32) -> Result<InstanceLock, LockError> {
    let path = lock_path(database);
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path);
    let (mut file, path, writable) = match opened {
        Ok(f) => (f, path, true),
        Err(e) => {
            let dir = match database.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(d) => d.to_path_buf(),
                None => PathBuf::from("."),
            };
            tracing::warn!(lock = %path.display(), error = %e, "no lock file; locking the directory");
            match File::open(&dir) {
                Ok(f) => (f, dir, false),
                Err(source) => return Err(LockError::Io { path: dir, source }),
            }
        }
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let pid = if writable { read_pid(&mut file) } else { None };
            return Err(LockError::Held {
                database: database.to_path_buf(),
                lock: path,
                pid,
            });
        }
        Err(TryLockError::Error(source)) => return Err(LockError::Io { path, source }),
    }
    if writable {
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{pid}"));
        if let Err(e) = written {
            tracing::warn!(lock = %path.display(), error = %e, "PID not written to the lock file");
        }
    }
    Ok(InstanceLock { _file: file, path })
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hubgate.db");
        let first = acquire(&db, 4242).unwrap();
        assert_eq!(first.path(), lock_path(&db));
        match acquire(&db, 7) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(4242)),
            other => panic!("not refused: {other:?}"),
        }
        let msg = acquire(&db, 7).unwrap_err().to_string();
        assert!(msg.contains("PID 4242"), "{msg}");
        drop(first);
        let again = acquire(&db, 7).unwrap();
        let text = std::fs::read_to_string(lock_path(&db)).unwrap();
        assert_eq!(text.trim(), "7");
        drop(again);
    }

    #[test]
    fn databases_in_one_directory_have_their_own_locks() {
        let dir = tempfile::tempdir().unwrap();
        let _a = acquire(&dir.path().join("a.db"), 1).unwrap();
        let _b = acquire(&dir.path().join("b.db"), 2).unwrap();
    }
}
