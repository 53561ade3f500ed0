//! Site config loading and validation, as an installer meets it.

use hubgate::config::{DeviceKind, DriverCatalog, EnvSource, load_file, load_str};
use std::collections::HashMap;
use std::path::Path;

fn catalog() -> hubgate::driver::Registry {
    hubgate::driver::Registry::builtin().expect("built-in drivers")
}

fn no_env() -> EnvSource {
    EnvSource::Map(HashMap::new())
}

const BASE: &str = r#"
[site]
id = "t"
name = "Test site"
grid_limit_a = 63
grid_meter = "grid"

[[buses]]
name = "rs485"
kind = "rtu"
device = "/dev/ttyUSB0"

[[meters]]
name = "grid"
driver = "eastron-sdm630"
bus = "rs485"
unit = 1

[[circuits]]
name = "garage"
limit_a = 32

[[chargers]]
name = "c1"
driver = "abb-terra-ac"
bus = "rs485"
unit = 2
circuit = "garage"
max_current_a = 32
connector = 1

[[chargers]]
name = "c2"
driver = "abb-terra-ac"
bus = "rs485"
unit = 3
max_current_a = 16
connector = 2
"#;

/// Load `text`; return the rendered problems (`line N: path: message`).
fn problems(text: &str) -> Vec<String> {
    match load_str(text, Path::new("site.toml"), &no_env(), &catalog()) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

fn assert_problem(text: &str, expected: &str) {
    let got = problems(text);
    assert!(
        got.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, got {got:#?}"
    );
}

#[test]
fn base_config_is_valid() {
    assert_eq!(problems(BASE), Vec::<String>::new());
}

#[test]
fn every_example_config_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir("site-configs").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = load_file(&path, &no_env(), &catalog()) {
                panic!("{} does not validate:\n{e}", path.display());
            }
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected at least three example configs, found {seen}"
    );
}

#[test]
fn unknown_key_names_line_and_suggests() {
    let text = BASE.replace("max_current_a = 16", "max_curent_a = 16");
    // line 37 of BASE holds the misspelt key
    let line = text
        .lines()
        .position(|l| l.starts_with("max_curent_a"))
        .unwrap()
        + 1;
    assert_problem(
        &text,
        &format!(
            "line {line}: chargers[1].max_curent_a: unknown key `max_curent_a` (did you mean `max_current_a`?)"
        ),
    );
}

#[test]
fn unknown_section_is_rejected_with_suggestion() {
    let text = format!("{BASE}\n[mqqt]\nbroker = \"mqtt://x\"\n");
    assert_problem(&text, "mqqt: unknown section `mqqt` (did you mean `mqtt`?)");
}

#[test]
fn wrong_type_is_named_with_path_and_line() {
    let text = BASE.replace("unit = 3", "unit = \"three\"");
    let line = text.lines().position(|l| l == "unit = \"three\"").unwrap() + 1;
    assert_problem(
        &text,
        &format!("line {line}: chargers[1].unit: wrong type: found string \"three\""),
    );
}

#[test]
fn out_of_range_value_is_named() {
    let text = BASE.replace("unit = 2", "unit = 300");
    assert_problem(
        &text,
        "chargers[0].unit: invalid value: integer `300`, expected u8",
    );
    let text = BASE.replace("grid_limit_a = 63", "grid_limit_a = -5");
    assert_problem(&text, "site.grid_limit_a: -5 A is out of range");
}

#[test]
fn unknown_references_are_reported() {
    let text = BASE
        .replace("bus = \"rs485\"\nunit = 3", "bus = \"rs458\"\nunit = 3")
        .replace("circuit = \"garage\"", "circuit = \"garag\"")
        .replace("driver = \"eastron-sdm630\"", "driver = \"eastron-sdm360\"");
    let got = problems(&text);
    for expected in [
        "chargers[1].bus: unknown bus `rs458` (did you mean `rs485`?)",
        "chargers[0].circuit: unknown circuit `garag` (did you mean `garage`?)",
        "meters[0].driver: unknown driver `eastron-sdm360`",
    ] {
        assert!(
            got.iter().any(|p| p.contains(expected)),
            "missing {expected:?} in {got:#?}"
        );
    }
}

#[test]
fn driver_of_the_wrong_kind_is_reported() {
    let text = BASE.replacen(
        "driver = \"abb-terra-ac\"",
        "driver = \"eastron-sdm630\"",
        1,
    );
    assert_problem(
        &text,
        "chargers[0].driver: driver `eastron-sdm630` is for a meter, not a charger",
    );
}

#[test]
fn duplicate_unit_ids_on_one_bus_are_reported() {
    let text = BASE.replace("unit = 3", "unit = 2");
    assert_problem(
        &text,
        "chargers[1].unit: unit id 2 on bus `rs485` is already used by chargers[0]",
    );
}

#[test]
fn duplicate_connectors_and_gaps_are_reported() {
    let dup = BASE.replace("connector = 2", "connector = 1");
    assert_problem(
        &dup,
        "chargers[1].connector: connector 1 is already chargers[0]",
    );
    let gap = BASE.replace("connector = 2", "connector = 3");
    assert_problem(&gap, "chargers[1].connector: connector 3 leaves a gap");
}

#[test]
fn circuit_cycles_are_reported() {
    let text = format!(
        "{BASE}\n[[circuits]]\nname = \"a\"\nparent = \"b\"\nlimit_a = 20\n\n[[circuits]]\nname = \"b\"\nparent = \"a\"\nlimit_a = 20\n"
    );
    assert_problem(&text, "is part of a loop of parents");
}

#[test]
fn child_circuit_above_parent_is_reported() {
    let text = format!(
        "{BASE}\n[[circuits]]\nname = \"sub\"\nparent = \"garage\"\nlimit_a = [32, 40, 32]\n"
    );
    assert_problem(&text, "L2 limit 40 A is above its parent garage (32 A)");
}

#[test]
fn charger_max_above_its_circuit_is_reported() {
    let text = BASE.replace("max_current_a = 32", "max_current_a = 40");
    assert_problem(
        &text,
        "chargers[0].max_current_a: 40 A is above the limit of garage (32 A)",
    );
}

#[test]
fn missing_required_key_is_reported_at_its_table() {
    let text = BASE.replace("max_current_a = 16\n", "");
    let line = text
        .lines()
        .position(|l| l == "[[chargers]]")
        .map(|_| ())
        .and(
            text.lines()
                .enumerate()
                .filter(|(_, l)| *l == "[[chargers]]")
                .nth(1)
                .map(|(i, _)| i + 1),
        );
    assert_problem(
        &text,
        &format!(
            "line {}: chargers[1].max_current_a: required key `max_current_a` is missing",
            line.unwrap()
        ),
    );
}

#[test]
fn bus_kind_specific_keys_are_checked() {
    let text = BASE.replace("device = \"/dev/ttyUSB0\"", "host = \"10.0.0.1\"");
    assert_problem(&text, "buses[0].device: required for an rtu bus");
    let text = BASE.replace("kind = \"rtu\"", "kind = \"serial\"");
    assert_problem(&text, "buses[0].kind: unknown variant `serial`");
}

#[test]
fn ocpp_security_profile_rules() {
    let text = format!("{BASE}\n[ocpp]\ncsms_url = \"ws://csms\"\nsecurity_profile = 2\n");
    let got = problems(&text);
    assert!(
        got.iter()
            .any(|p| p.contains("ocpp.csms_url: security profile 2 needs TLS")),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|p| p.contains("ocpp.credentials_file: security profiles 1 and 2 need")),
        "{got:#?}"
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let text = BASE
        .replace("max_current_a = 16", "max_curent_a = 16\npriorty = 2")
        .replace("unit = 2", "unit = \"x\"")
        .replace("grid_limit_a = 63", "grid_limit_a = 63\ncolour = \"red\"");
    let got = problems(&text);
    for expected in [
        "chargers[1].max_curent_a",
        "chargers[1].priorty",
        "chargers[0].unit",
        "site.colour",
    ] {
        assert!(
            got.iter().any(|p| p.contains(expected)),
            "missing {expected:?} in {got:#?}"
        );
    }
}

#[test]
fn syntax_error_names_the_line() {
    let text = BASE.replace("unit = 3", "unit = = 3");
    let err = load_str(&text, Path::new("site.toml"), &no_env(), &catalog()).unwrap_err();
    let line = text.lines().position(|l| l == "unit = = 3").unwrap() + 1;
    assert!(
        err.to_string()
            .starts_with(&format!("site.toml:{line}: not valid TOML")),
        "{err}"
    );
}

#[test]
fn environment_overrides_take_precedence() {
    let text =
        format!("{BASE}\n[ocpp]\ncsms_url = \"ws://file.example/ocpp\"\nsecurity_profile = 0\n");
    let env = EnvSource::Map(HashMap::from([
        (
            "HUBGATE__OCPP__CSMS_URL".to_string(),
            "wss://env.example/ocpp".to_string(),
        ),
        (
            "HUBGATE__SITE__SAFETY_MARGIN_A".to_string(),
            "3.5".to_string(),
        ),
        ("OTHER__SITE__NAME".to_string(), "ignored".to_string()),
    ]));
    let cfg = load_str(&text, Path::new("site.toml"), &env, &catalog()).unwrap();
    assert_eq!(cfg.config.ocpp.unwrap().csms_url, "wss://env.example/ocpp");
    assert_eq!(cfg.config.site.safety_margin_a, 3.5);
    assert_eq!(cfg.config.site.name, "Test site");
    assert_eq!(
        cfg.env_overrides.get("ocpp.csms_url").map(String::as_str),
        Some("HUBGATE__OCPP__CSMS_URL")
    );
}

#[test]
fn bad_environment_override_names_the_variable() {
    let env = EnvSource::Map(HashMap::from([(
        "HUBGATE__SITE__NOMINAL_VOLTAGE_V".to_string(),
        "9000".to_string(),
    )]));
    let err = load_str(BASE, Path::new("site.toml"), &env, &catalog()).unwrap_err();
    let p = err.problems();
    assert!(
        p.iter().any(|p| p.path == "site.nominal_voltage_v"
            && p.env_var.as_deref() == Some("HUBGATE__SITE__NOMINAL_VOLTAGE_V")),
        "{err}"
    );
}

#[test]
fn catalog_kinds_are_known() {
    let c = catalog();
    assert_eq!(c.kind_of("eastron-sdm630"), Some(DeviceKind::Meter));
    assert_eq!(c.kind_of("abb-terra-ac"), Some(DeviceKind::Charger));
}

#[test]
fn numbers_that_are_not_finite_or_absurd_are_named_with_line() {
    for (from, to, key, expect) in [
        (
            "grid_limit_a = 63",
            "grid_limit_a = inf",
            "site.grid_limit_a",
            "not a finite number",
        ),
        (
            "grid_limit_a = 63",
            "grid_limit_a = [63, nan, 63]",
            "site.grid_limit_a[1]",
            "not a finite number",
        ),
        (
            "max_current_a = 16",
            "max_current_a = 1e300",
            "chargers[1].max_current_a",
            "1e300 A is out of range",
        ),
        (
            "max_current_a = 16",
            "max_current_a = 16\nmin_current_a = nan",
            "chargers[1].min_current_a",
            "not a finite number",
        ),
    ] {
        let text = BASE.replacen(from, to, 1);
        let last = to.lines().last().unwrap();
        let line = text.lines().position(|l| l == last).unwrap() + 1;
        assert_problem(&text, &format!("line {line}: {key}: "));
        assert_problem(&text, expect);
    }
    let text = format!("{BASE}\n[storage]\nhistory_days = 4000000000\n");
    assert_problem(
        &text,
        "storage.history_days: 4000000000 days is out of range (1 to 3660 days)",
    );
}

fn check_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.toml");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hubgate"))
        .arg("check-config")
        .arg(&path)
        .env_remove("HUBGATE__OCPP__CREDENTIALS_FILE")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), all)
}

#[test]
fn check_config_fails_when_the_credentials_file_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ocpp-password");
    let ocpp = |path: &std::path::Path| {
        format!(
            "{BASE}\n[ocpp]\ncsms_url = \"wss://csms.example.com/ocpp\"\nsecurity_profile = 2\ncredentials_file = \"{}\"\n",
            path.display()
        )
    };
    let line = ocpp(&file)
        .lines()
        .position(|l| l.starts_with("credentials_file"))
        .unwrap()
        + 1;
    // Missing.
    let (ok, out) = check_config(&ocpp(&file));
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "line {line}: ocpp.credentials_file: cannot read {}",
            file.display()
        )),
        "{out}"
    );
    // Empty.
    std::fs::write(&file, "\n").unwrap();
    let (ok, out) = check_config(&ocpp(&file));
    assert!(!ok && out.contains("is empty"), "{out}");
    // Unreadable (a directory cannot be read as a file, whoever runs the test).
    let (ok, out) = check_config(&ocpp(dir.path()));
    assert!(
        !ok && out.contains("ocpp.credentials_file: cannot read"),
        "{out}"
    );
    // Readable.
    std::fs::write(&file, "s3cret\n").unwrap();
    let (ok, out) = check_config(&ocpp(&file));
    assert!(ok, "{out}");
    // The MQTT credentials and CA files too.
    let missing = dir.path().join("mqtt-ca.pem");
    let mqtt = format!(
        "{}\n[mqtt]\nbroker = \"mqtts://127.0.0.1:8883\"\nca_file = \"{}\"\n",
        ocpp(&file),
        missing.display()
    );
    let (ok, out) = check_config(&mqtt);
    assert!(!ok && out.contains("mqtt.ca_file: cannot read"), "{out}");
}

#[test]
fn a_password_in_the_csms_url_is_refused_and_never_shown() {
    let text = format!(
        "{BASE}\n[ocpp]\ncsms_url = \"wss://t:hunter2@csms.example.com/ocpp\"\nsecurity_profile = 0\n"
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("csms_url"))
        .unwrap()
        + 1;
    assert_problem(
        &text,
        &format!(
            "line {line}: ocpp.csms_url: `wss://t:***@csms.example.com/ocpp` carries a password"
        ),
    );
    assert_problem(&text, "ocpp.credentials_file");
    let (ok, out) = check_config(&text);
    assert!(!ok, "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    let text = format!("{BASE}\n[mqtt]\nbroker = \"mqtt://u:hunter2@127.0.0.1:1883\"\n");
    let (ok, out) = check_config(&text);
    assert!(
        !ok && out.contains("mqtt.broker: the URL carries a password"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
}
