//! What any site config text must do to us: checked by the fuzz target `site_config` on
//! generated inputs and by `tests/fuzz_inputs.rs` on the committed ones and the examples.
//!
//! - loading never panics, and every problem it reports can be shown;
//! - a config that loads comes back equal from its own TOML (the form `hubgate demo` and the
//!   tests hand to the daemon);
//! - a config that loads holds only finite numbers, each within its documented range.

use hubgate::config::range::site_numbers;
use hubgate::config::{EnvSource, load_str};
use hubgate::driver::Registry;
use std::path::Path;
use std::sync::LazyLock;

static DRIVERS: LazyLock<Registry> =
    LazyLock::new(|| Registry::builtin().expect("the built-in drivers load"));

pub fn check(text: &str) {
    let env = EnvSource::Map(Default::default());
    let path = Path::new("site.toml");
    match load_str(text, path, &env, &*DRIVERS) {
        Ok(loaded) => {
            for n in site_numbers(&loaded.config) {
                assert!(
                    n.value.is_finite() && n.range.contains(n.value),
                    "{} = {} loaded, outside {:?}",
                    n.key,
                    n.value,
                    n.range
                );
            }
            let again = toml::to_string(&loaded.config).expect("a loaded config serializes");
            let reloaded = load_str(&again, path, &env, &*DRIVERS)
                .unwrap_or_else(|e| panic!("own TOML refused: {e}\n{again}"));
            assert_eq!(reloaded.config, loaded.config, "round trip of {text:?}");
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.is_empty());
        }
    }
}
