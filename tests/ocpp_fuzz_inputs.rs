//! The committed inputs of the `ocpp_frame` fuzz target (seeds, minimized corpus and any input
//! that once broke something), replayed through the same checks the fuzzer runs.

#[path = "fuzz/ocpp_frame_check.rs"]
mod check;

#[test]
fn committed_fuzz_inputs_keep_their_properties() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/ocpp_frame");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("the seed directory") {
        let path = entry.expect("a directory entry").path();
        let data = std::fs::read(&path).expect("a seed");
        if let Ok(text) = std::str::from_utf8(&data) {
            check::check(text);
            replayed += 1;
        }
    }
    assert!(
        replayed >= 50,
        "only {replayed} inputs in {}",
        dir.display()
    );
}
