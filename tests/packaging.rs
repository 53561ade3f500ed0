//! Packaging checks: the systemd unit, the Debian package and the Yocto layer.
//!
//! These run the real tools (`systemd-analyze`, `cargo deb`, `lintian`, `oelint-adv`), installed
//! by `tests/provision.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("{shown}: {e} (run tests/provision.sh to install the packaging tools)"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The unit as installed, with the binary path pointing at the binary this test run built, so that
/// `systemd-analyze` can check that the command exists.
fn unit_with_built_binary(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(root().join("systemd/hubgate.service")).expect("read unit");
    let unit = unit.replace("/usr/bin/hubgate", env!("CARGO_BIN_EXE_hubgate"));
    let path = dir.join("hubgate.service");
    std::fs::write(&path, unit).expect("write unit");
    path
}

#[test]
fn systemd_unit_verifies_without_a_single_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_with_built_binary(dir.path());
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&unit));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{all}"
    );
    assert!(
        all.trim().is_empty(),
        "systemd-analyze verify printed:\n{all}"
    );
}

#[test]
fn systemd_unit_is_rated_2_or_better_by_systemd_analyze_security() {
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(root().join("systemd/hubgate.service")));
    let all = text(&out.stdout);
    let line = all
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no rating in:\n{all}{}", text(&out.stderr)));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the rating in {line:?}"));
    assert!(score <= 2.0, "exposure {score} > 2.0: {line}");
}

#[test]
fn systemd_unit_runs_the_daemon_as_a_notify_service_with_a_watchdog() {
    let unit = std::fs::read_to_string(root().join("systemd/hubgate.service")).expect("read unit");
    for wanted in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=hubgate",
        "ConfigurationDirectory=hubgate",
        "RuntimeDirectory=hubgate",
        "User=hubgate",
        "SupplementaryGroups=dialout",
        "ExecStart=/usr/bin/hubgate run --config ${CONFIGURATION_DIRECTORY}/site.toml",
    ] {
        assert!(unit.contains(wanted), "unit lacks {wanted}");
    }
}

#[test]
fn yocto_crates_include_matches_cargo_lock() {
    let out = run(Command::new("python3")
        .arg(root().join("yocto/update-crates-inc"))
        .arg("--check"));
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // And it is complete: every crates.io package of the lockfile is fetched with its checksum.
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("lock");
    let inc = std::fs::read_to_string(
        root().join("yocto/meta-hubgate/recipes-support/hubgate/hubgate-crates.inc"),
    )
    .expect("inc");
    let lock: toml::Table = lock.parse().expect("parse lock");
    let packages = lock["package"].as_array().expect("packages");
    let mut remote = 0;
    for p in packages {
        let Some(sum) = p.get("checksum").and_then(|c| c.as_str()) else {
            continue;
        };
        remote += 1;
        let (name, version) = (p["name"].as_str().unwrap(), p["version"].as_str().unwrap());
        assert!(inc.contains(&format!("crate://crates.io/{name}/{version} ")));
        assert!(inc.contains(&format!("SRC_URI[{name}-{version}.sha256sum] = \"{sum}\"")));
    }
    assert!(remote > 50, "only {remote} crates in Cargo.lock?");
}

#[test]
fn yocto_recipe_and_layer_pass_oelint_adv() {
    let layer = root().join("yocto/meta-hubgate");
    for file in ["recipes-support/hubgate/hubgate_git.bb", "conf/layer.conf"] {
        let out = run(Command::new("oelint-adv")
            .args(["--quiet", "--release", "walnascar"])
            // The homepage check needs the internet, which the build machines don't have.
            .args(["--suppress", "oelint.vars.homepageping"])
            .arg(layer.join(file)));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success() && all.trim().is_empty(),
            "{file}:\n{all}"
        );
    }
}

#[test]
fn yocto_recipe_installs_the_unit_drivers_and_user() {
    let recipe = std::fs::read_to_string(
        root().join("yocto/meta-hubgate/recipes-support/hubgate/hubgate_git.bb"),
    )
    .expect("recipe");
    for wanted in [
        "inherit cargo cargo-update-recipe-crates systemd useradd",
        "require ${BPN}-crates.inc",
        "SYSTEMD_SERVICE:${PN} = \"hubgate.service\"",
        "USERADD_PARAM:${PN}",
        "${S}/drivers/*.toml",
    ] {
        assert!(recipe.contains(wanted), "recipe lacks {wanted}");
    }
}

#[test]
fn debian_package_holds_binary_unit_drivers_and_configs_and_is_lintian_clean() {
    // The binary is the one this test run built (debug profile): the package layout is what is
    // checked here; release builds are made the same way without `--profile dev`.
    let dir = tempfile::tempdir().expect("tempdir");
    let deb = dir.path().join("hubgate.deb");
    let out = run(Command::new("cargo")
        .current_dir(root())
        .args([
            "deb",
            "--no-build",
            "--profile",
            "dev",
            "--no-strip",
            "--output",
        ])
        .arg(&deb));
    assert!(out.status.success(), "cargo deb: {}", text(&out.stderr));

    let out = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let listing = text(&out.stdout);
    let files: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    for wanted in [
        "./usr/bin/hubgate",
        "./usr/lib/systemd/system/hubgate.service",
        "./usr/share/hubgate/drivers/eastron-sdm630.toml",
        "./usr/share/hubgate/drivers/abb-terra-ac.toml",
        "./usr/share/doc/hubgate/examples/small-depot.toml",
        "./usr/share/doc/hubgate/examples/demo.toml",
        "./etc/hubgate/site.toml",
    ] {
        assert!(files.contains(&wanted), "{wanted} missing from:\n{listing}");
    }
    let drivers_in_repo = std::fs::read_dir(root().join("drivers"))
        .expect("drivers dir")
        .filter(|e| {
            e.as_ref()
                .map(|e| e.path().extension().is_some_and(|x| x == "toml"))
                .unwrap_or(false)
        })
        .count();
    let drivers_packaged = files
        .iter()
        .filter(|f| f.starts_with("./usr/share/hubgate/drivers/") && f.ends_with(".toml"))
        .count();
    assert_eq!(drivers_packaged, drivers_in_repo);

    let out = run(Command::new("dpkg-deb").arg("-I").arg(&deb));
    let info = text(&out.stdout);
    assert!(info.contains("conffiles"), "no conffiles:\n{info}");
    assert!(info.contains("postinst"), "no postinst:\n{info}");

    // Errors fail the test; warnings (no man page, the config's 0640 mode) are accepted.
    // This debug build is unstripped on purpose.
    let out = run(Command::new("lintian")
        .args(["--suppress-tags", "unstripped-binary-or-object"])
        .arg(&deb));
    let report = text(&out.stdout);
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{report}");
}
