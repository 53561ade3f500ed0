//! The committed inputs of the fuzz targets in `tests/fuzz/` (seeds, and every input that once
//! broke something), plus the example site configs and the built-in drivers, replayed through
//! the same checks the fuzzer runs.

#[path = "fuzz/driver_file_check.rs"]
mod driver_file;
#[path = "fuzz/ocpp_frame_check.rs"]
mod ocpp_frame;
#[path = "fuzz/site_config_check.rs"]
mod site_config;

use std::path::{Path, PathBuf};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn ocpp_frame_inputs() {
    let mut replayed = 0;
    for path in files("tests/fuzz/seeds/ocpp_frame") {
        if let Ok(text) = std::str::from_utf8(&read(&path)) {
            ocpp_frame::check(text);
            replayed += 1;
        }
    }
    assert!(replayed >= 50, "only {replayed} ocpp_frame inputs");
}

#[test]
fn site_config_inputs() {
    let mut replayed = 0;
    for path in [files("site-configs"), files("tests/fuzz/seeds/site_config")].concat() {
        if let Ok(text) = std::str::from_utf8(&read(&path)) {
            site_config::check(text);
            replayed += 1;
        }
    }
    assert!(replayed >= 3, "only {replayed} site_config inputs");
}

#[test]
fn driver_file_inputs() {
    let mut replayed = 0;
    let drivers = [files("drivers")].concat();
    for path in &drivers {
        let mut data = read(path);
        driver_file::check(&data);
        // and with registers full of ones: NaN floats, the largest integers
        data.push(0);
        data.extend([0xff; 64]);
        driver_file::check(&data);
        replayed += 1;
    }
    for path in files("tests/fuzz/seeds/driver_file") {
        driver_file::check(&read(&path));
        replayed += 1;
    }
    assert!(replayed >= 17, "only {replayed} driver_file inputs");
}

/// The committed inputs named `nonfinite-*` and `absurd-*` each hold one number that is not
/// finite or far out of range: each must be refused, naming the key.
#[test]
fn bad_numbers_are_refused() {
    use hubgate::config::{EnvSource, load_str};
    use hubgate::driver::{Registry, parse};
    let bad = |p: &PathBuf| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.starts_with("nonfinite-") || name.starts_with("absurd-")
    };
    let drivers = Registry::builtin().expect("the built-in drivers load");
    let env = EnvSource::Map(Default::default());
    let mut refused = 0;
    for path in files("tests/fuzz/seeds/site_config")
        .iter()
        .filter(|p| bad(p))
    {
        let text = String::from_utf8(read(path)).expect("text");
        let err = load_str(&text, path, &env, &drivers)
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", path.display()));
        let problems = err.problems();
        assert!(
            problems
                .iter()
                .all(|p| !p.path.is_empty() && p.line.is_some())
                && problems
                    .iter()
                    .any(|p| p.message.contains("finite") || p.message.contains("out of range")),
            "{}: {problems:?}",
            path.display()
        );
        refused += 1;
    }
    for path in files("tests/fuzz/seeds/driver_file")
        .iter()
        .filter(|p| bad(p))
    {
        let text = String::from_utf8(read(path)).expect("text");
        let problems = parse(Path::new("abb-terra-ac.toml"), &text)
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", path.display()));
        assert!(
            problems.iter().any(|p| !p.key.is_empty()
                && p.line.is_some()
                && (p.message.contains("finite") || p.message.contains("out of range"))),
            "{}: {problems:?}",
            path.display()
        );
        refused += 1;
    }
    assert!(refused >= 12, "only {refused} bad-number inputs");
}
