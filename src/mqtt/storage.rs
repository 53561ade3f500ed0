//! How full the file system holding the database is (for the `storage_nearly_full` alert).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The used share (0..1) of the file system that holds `path` (or its nearest existing
/// ancestor), as unprivileged processes see it; `None` when it cannot be asked.
pub fn used_fraction(path: &Path) -> Option<f64> {
    let mut dir = path;
    while !dir.exists() {
        dir = dir.parent()?;
    }
    let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path; `stat` is plain data filled in by the kernel.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
    if rc != 0 || stat.f_blocks == 0 {
        return None;
    }
    let total = stat.f_blocks as f64;
    let available = stat.f_bavail as f64;
    Some((1.0 - available / total).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_file_system_has_a_used_share() {
        let dir = tempfile::tempdir().unwrap();
        let f = used_fraction(&dir.path().join("not/yet/here.db")).unwrap();
        assert!((0.0..=1.0).contains(&f));
    }
}
