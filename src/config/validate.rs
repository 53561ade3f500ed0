//! Cross-reference and range checks over a config that parsed: everything an installer can get
//! wrong that the schema alone cannot see. Every problem is collected, none stops the others.

use super::error::{Problem, suggestion};
use super::range::{check_range, site_numbers};
use super::schema::{BusKind, SiteConfig};
use super::secret::{redact_url, url_has_password};
use crate::phase::{PerPhase, Phase};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Kind of device a driver describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Charger,
    Meter,
}

/// What validation needs to know about the available driver files.
pub trait DriverCatalog {
    /// The kind of device driver `name` describes, if such a driver exists.
    fn kind_of(&self, name: &str) -> Option<DeviceKind>;
    /// Every driver name, for suggestions.
    fn names(&self) -> Vec<String>;
}

/// IEC 61851-1: the lowest current a PWM signal can offer.
pub const IEC_MIN_CURRENT_A: f64 = 6.0;

struct Checker<'a> {
    problems: Vec<Problem>,
    /// Every number is within its range: only then are numbers compared with each other (a
    /// wrong number is reported once, not again in every comparison it takes part in).
    numbers_ok: bool,
    drivers: &'a dyn DriverCatalog,
}

impl Checker<'_> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            line: None,
            env_var: None,
            message: message.into(),
        });
    }

    /// Every number of the config within its range (one list, so none is forgotten).
    fn numbers(&mut self, cfg: &SiteConfig) {
        for n in site_numbers(cfg) {
            if let Err(m) = check_range(n.value, &n.range) {
                self.numbers_ok = false;
                self.err(n.key, m);
            }
        }
    }

    fn reference(&mut self, path: &str, what: &str, name: &str, known: &[&str]) -> bool {
        if known.contains(&name) {
            return true;
        }
        self.err(
            path,
            format!(
                "unknown {what} `{name}`{}",
                suggestion(name, known.iter().copied())
            ),
        );
        false
    }

    fn driver(&mut self, path: &str, name: &str, want: DeviceKind) {
        match self.drivers.kind_of(name) {
            Some(k) if k == want => {}
            Some(k) => self.err(
                path,
                format!("driver `{name}` is for a {k:?}, not a {want:?}").to_lowercase(),
            ),
            None => {
                let names = self.drivers.names();
                self.err(
                    path,
                    format!(
                        "unknown driver `{name}`{} (`hubgate drivers` lists them)",
                        suggestion(name, names.iter().map(String::as_str))
                    ),
                );
            }
        }
    }

    fn wiring(&mut self, path: &str, wiring: &[Phase]) {
        let distinct: HashSet<_> = wiring.iter().collect();
        if !(wiring.len() == 1 || wiring.len() == 3) || distinct.len() != wiring.len() {
            self.err(
                path,
                "wiring lists the grid phase of each device phase: one phase (e.g. [\"L2\"]) or \
                 three distinct ones (e.g. [\"L2\", \"L3\", \"L1\"])",
            );
        }
    }

    fn unique<'n>(&mut self, section: &str, names: impl Iterator<Item = &'n str>) {
        let mut seen = HashMap::new();
        for (i, n) in names.enumerate() {
            if n.is_empty() {
                self.err(format!("{section}[{i}].name"), "name must not be empty");
            } else if let Some(first) = seen.insert(n, i) {
                self.err(
                    format!("{section}[{i}].name"),
                    format!("name `{n}` is already used by {section}[{first}]"),
                );
            }
        }
    }
}

/// Check a parsed config; an empty result means it is good to run.
pub fn check(cfg: &SiteConfig, drivers: &dyn DriverCatalog) -> Vec<Problem> {
    let mut c = Checker {
        problems: Vec::new(),
        numbers_ok: true,
        drivers,
    };
    c.numbers(cfg);
    site(&mut c, cfg);
    buses(&mut c, cfg);
    let circuit_limits = circuits(&mut c, cfg);
    devices(&mut c, cfg, &circuit_limits);
    if c.numbers_ok {
        fallback_fits(&mut c, cfg, &circuit_limits);
    }
    uplinks(&mut c, cfg);
    c.problems
}

/// When hubgate is blind (a stale meter) or gone (chargers in their own failsafe), every charger
/// may draw the fallback current at once: that must fit under every limit it is under.
fn fallback_fits(c: &mut Checker, cfg: &SiteConfig, limits: &BTreeMap<String, PerPhase<f64>>) {
    let fallback = cfg.site.fallback_current_a;
    if !(fallback > 0.0 && fallback.is_finite()) {
        return;
    }
    let parent_of: HashMap<&str, &str> = cfg
        .circuits
        .iter()
        .filter_map(|x| Some((x.name.as_str(), x.parent.as_deref()?)))
        .collect();
    let mut load: BTreeMap<String, PerPhase<f64>> = BTreeMap::new();
    for ch in &cfg.chargers {
        let mut draw = PerPhase::ZERO;
        for p in &ch.wiring {
            draw.0[*p as usize] += fallback.min(ch.max_current_a);
        }
        // The charger's circuit, its ancestors (bounded, in case of a loop reported elsewhere)
        // and the grid connection.
        let mut chain = vec![String::new()];
        let mut cur = ch.circuit.as_deref();
        while let Some(name) = cur {
            if chain.len() > cfg.circuits.len() + 1 {
                break;
            }
            chain.push(name.to_string());
            cur = parent_of.get(name).copied();
        }
        for key in chain {
            let e = load.entry(key).or_insert(PerPhase::ZERO);
            *e = *e + draw;
        }
    }
    for (key, total) in &load {
        let Some(limit) = limits.get(key) else {
            continue;
        };
        for ph in Phase::ALL {
            if total[ph] > limit[ph] + 1e-9 {
                let what = if key.is_empty() {
                    "the grid connection".to_string()
                } else {
                    format!("circuit `{key}`")
                };
                c.err(
                    "site.fallback_current_a",
                    format!(
                        "{fallback} A for every charger adds up to {} A on {ph} of {what}, above its \
                         {} A limit: with a meter stale or hubgate stopped the chargers could trip \
                         it; lower the fallback current (0 pauses them)",
                        total[ph], limit[ph]
                    ),
                );
                break;
            }
        }
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

fn site(c: &mut Checker, cfg: &SiteConfig) {
    let s = &cfg.site;
    if !is_id(&s.id) {
        c.err(
            "site.id",
            "use letters, digits, `-` and `_` only (it becomes part of MQTT topics)",
        );
    }
    if s.name.trim().is_empty() {
        c.err("site.name", "must not be empty");
    }
    // The ranges are checked with every number (`range::site_numbers`); what follows relates
    // numbers to each other.
    let grid_min = s.grid_limit_a.0.min_value();
    if c.numbers_ok && s.safety_margin_a > grid_min {
        c.err(
            "site.safety_margin_a",
            format!(
                "{} A is more than the grid limit ({grid_min} A)",
                s.safety_margin_a
            ),
        );
    }
    let k = &cfg.control;
    let cycle_s = k.cycle_ms as f64 / 1000.0;
    if c.numbers_ok && k.meter_stale_s < 2.0 * cycle_s {
        c.err(
            "control.meter_stale_s",
            format!(
                "{} s is shorter than two control cycles ({} s)",
                k.meter_stale_s,
                2.0 * cycle_s
            ),
        );
    }
}

fn buses(c: &mut Checker, cfg: &SiteConfig) {
    c.unique("buses", cfg.buses.iter().map(|b| b.name.as_str()));
    for (i, b) in cfg.buses.iter().enumerate() {
        let p = format!("buses[{i}]");
        match b.kind {
            BusKind::Tcp | BusKind::RtuOverTcp => {
                if b.host.as_deref().is_none_or(str::is_empty) {
                    c.err(
                        format!("{p}.host"),
                        format!("required for a {:?} bus", b.kind).to_lowercase(),
                    );
                }
                if b.device.is_some() {
                    c.err(
                        format!("{p}.device"),
                        "a TCP bus has no serial device (did you mean kind = \"rtu\"?)",
                    );
                }
            }
            BusKind::Rtu => {
                if b.device.is_none() {
                    c.err(
                        format!("{p}.device"),
                        "required for an rtu bus, e.g. \"/dev/ttyUSB0\"",
                    );
                }
                if b.host.is_some() || b.port.is_some() {
                    c.err(
                        format!("{p}.host"),
                        "a serial bus has no host/port (did you mean kind = \"rtu_over_tcp\"?)",
                    );
                }
                const BAUDS: [u32; 9] =
                    [1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200];
                if (BAUDS[0]..=BAUDS[8]).contains(&b.baud) && !BAUDS.contains(&b.baud) {
                    c.err(
                        format!("{p}.baud"),
                        format!("{} is not a standard baud rate ({BAUDS:?})", b.baud),
                    );
                }
            }
        }
    }
}

/// Checks the circuit tree; returns each circuit's limit (the grid connection under "").
fn circuits(c: &mut Checker, cfg: &SiteConfig) -> BTreeMap<String, PerPhase<f64>> {
    c.unique("circuits", cfg.circuits.iter().map(|x| x.name.as_str()));
    let names: Vec<&str> = cfg.circuits.iter().map(|x| x.name.as_str()).collect();
    let mut limits = BTreeMap::new();
    limits.insert(String::new(), cfg.site.grid_limit_a.0);
    for x in &cfg.circuits {
        limits.entry(x.name.clone()).or_insert(x.limit_a.0);
    }
    let meter_names: Vec<&str> = cfg.meters.iter().map(|m| m.name.as_str()).collect();
    let mut metered: HashMap<&str, String> = HashMap::new();
    if let Some(m) = &cfg.site.grid_meter
        && c.reference("site.grid_meter", "meter", m, &meter_names)
    {
        metered.insert(m, "site.grid_meter".into());
    }
    for (i, x) in cfg.circuits.iter().enumerate() {
        let p = format!("circuits[{i}]");
        if let Some(parent) = &x.parent
            && c.reference(&format!("{p}.parent"), "circuit", parent, &names)
            && parent == &x.name
        {
            c.err(format!("{p}.parent"), "a circuit cannot feed itself");
        }
        let parent_key = x.parent.clone().unwrap_or_default();
        if let Some(pl) = limits.get(&parent_key).copied() {
            for ph in Phase::ALL {
                if c.numbers_ok && x.limit_a.0[ph] > pl[ph] {
                    let parent_name = x.parent.as_deref().unwrap_or("the grid connection");
                    c.err(
                        format!("{p}.limit_a"),
                        format!(
                            "{ph} limit {} A is above its parent {parent_name} ({} A)",
                            x.limit_a.0[ph], pl[ph]
                        ),
                    );
                }
            }
        }
        if let Some(m) = &x.meter {
            let mp = format!("{p}.meter");
            if c.reference(&mp, "meter", m, &meter_names)
                && let Some(first) = metered.insert(m, mp.clone())
            {
                c.err(mp, format!("meter `{m}` already measures {first}"));
            }
        }
    }
    // Cycles: follow parents from every circuit; more steps than circuits means a loop.
    let parent_of: HashMap<&str, &str> = cfg
        .circuits
        .iter()
        .filter_map(|x| Some((x.name.as_str(), x.parent.as_deref()?)))
        .collect();
    for (i, x) in cfg.circuits.iter().enumerate() {
        let mut cur = x.name.as_str();
        let mut steps = 0;
        while let Some(next) = parent_of.get(cur) {
            cur = next;
            steps += 1;
            if steps > cfg.circuits.len() {
                c.err(
                    format!("circuits[{i}].parent"),
                    format!("circuit `{}` is part of a loop of parents: one circuit must be fed from the grid", x.name),
                );
                break;
            }
        }
    }
    limits
}

fn devices(c: &mut Checker, cfg: &SiteConfig, circuit_limits: &BTreeMap<String, PerPhase<f64>>) {
    let mut names: HashMap<&str, String> = HashMap::new();
    for (section, list) in [
        (
            "meters",
            cfg.meters
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>(),
        ),
        (
            "chargers",
            cfg.chargers.iter().map(|m| m.name.as_str()).collect(),
        ),
    ] {
        for (i, n) in list.into_iter().enumerate() {
            let p = format!("{section}[{i}].name");
            if n.is_empty() {
                c.err(p, "name must not be empty");
            } else if let Some(first) = names.insert(n, p.clone()) {
                c.err(p, format!("device name `{n}` is already used by {first}"));
            }
        }
    }
    let bus_names: Vec<&str> = cfg.buses.iter().map(|b| b.name.as_str()).collect();
    let circuit_names: Vec<&str> = cfg.circuits.iter().map(|x| x.name.as_str()).collect();
    let mut units: HashMap<(String, u8), String> = HashMap::new();
    for (i, m) in cfg.meters.iter().enumerate() {
        let p = format!("meters[{i}]");
        c.driver(&format!("{p}.driver"), &m.driver, DeviceKind::Meter);
        c.reference(&format!("{p}.bus"), "bus", &m.bus, &bus_names);
        unit_check(c, &mut units, &p, &m.bus, m.unit);
        c.wiring(&format!("{p}.wiring"), &m.wiring);
    }
    let mut connectors: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, ch) in cfg.chargers.iter().enumerate() {
        let p = format!("chargers[{i}]");
        c.driver(&format!("{p}.driver"), &ch.driver, DeviceKind::Charger);
        c.reference(&format!("{p}.bus"), "bus", &ch.bus, &bus_names);
        unit_check(c, &mut units, &p, &ch.bus, ch.unit);
        c.wiring(&format!("{p}.wiring"), &ch.wiring);
        if c.numbers_ok && ch.min_current_a > ch.max_current_a {
            c.err(
                format!("{p}.min_current_a"),
                format!(
                    "{} A is above max_current_a ({} A)",
                    ch.min_current_a, ch.max_current_a
                ),
            );
        }
        let circuit_key = match &ch.circuit {
            Some(name) => {
                if !c.reference(&format!("{p}.circuit"), "circuit", name, &circuit_names) {
                    None
                } else {
                    Some(name.clone())
                }
            }
            None => Some(String::new()),
        };
        if let Some(limit) = circuit_key.and_then(|k| circuit_limits.get(&k).copied()) {
            let tightest = ch
                .wiring
                .iter()
                .map(|ph| limit[*ph])
                .fold(f64::INFINITY, f64::min);
            if c.numbers_ok && ch.max_current_a > tightest {
                let where_ = ch.circuit.as_deref().unwrap_or("the grid connection");
                c.err(
                    format!("{p}.max_current_a"),
                    format!(
                        "{} A is above the limit of {where_} ({tightest} A)",
                        ch.max_current_a
                    ),
                );
            }
        }
        if let Some(first) = connectors.insert(ch.connector, i) {
            c.err(
                format!("{p}.connector"),
                format!("connector {} is already chargers[{first}]", ch.connector),
            );
        }
    }
    let n = cfg.chargers.len() as u32;
    for (i, ch) in cfg.chargers.iter().enumerate() {
        // 0 and numbers past 1000 are refused with the ranges.
        if ch.connector > n && ch.connector <= 1000 {
            c.err(
                format!("chargers[{i}].connector"),
                format!("connector {} leaves a gap: number the site's {n} chargers 1 to {n} (connector 0 is the whole site)", ch.connector),
            );
        }
    }
}

/// Unit ids are Modbus addresses: 1 to 247, unique on their bus.
fn unit_check(
    c: &mut Checker,
    units: &mut HashMap<(String, u8), String>,
    p: &str,
    bus: &str,
    unit: u8,
) {
    if let Some(first) = units.insert((bus.to_string(), unit), p.to_string()) {
        c.err(
            format!("{p}.unit"),
            format!("unit id {unit} on bus `{bus}` is already used by {first}"),
        );
    }
}

fn uplinks(c: &mut Checker, cfg: &SiteConfig) {
    if let Some(o) = &cfg.ocpp {
        let scheme = o.csms_url.split("://").next().unwrap_or("");
        if !matches!(scheme, "ws" | "wss") || !o.csms_url.contains("://") {
            c.err(
                "ocpp.csms_url",
                format!(
                    "`{}` must start with ws:// or wss://",
                    redact_url(&o.csms_url)
                ),
            );
        }
        if url_has_password(&o.csms_url) {
            c.err(
                "ocpp.csms_url",
                format!(
                    "`{}` carries a password: remove it from the URL and put it in the file \
                     named by ocpp.credentials_file (readable by the service only)",
                    redact_url(&o.csms_url)
                ),
            );
        }
        if o.security_profile >= 2 && scheme == "ws" {
            c.err(
                "ocpp.csms_url",
                format!(
                    "security profile {} needs TLS: use wss://",
                    o.security_profile
                ),
            );
        }
        if matches!(o.security_profile, 1 | 2) && o.credentials_file.is_none() {
            c.err(
                "ocpp.credentials_file",
                "security profiles 1 and 2 need a file with the basic-auth password",
            );
        }
        if o.security_profile == 3 && (o.client_cert_file.is_none() || o.client_key_file.is_none())
        {
            c.err(
                "ocpp.client_cert_file",
                "security profile 3 needs client_cert_file and client_key_file",
            );
        }
        let identity = o.identity.as_deref().unwrap_or(&cfg.site.id);
        if identity.is_empty()
            || identity.len() > 48
            || !identity
                .chars()
                .all(|ch| ch.is_ascii_graphic() && ch != '/' && ch != '?' && ch != '#')
        {
            c.err(
                "ocpp.identity",
                "use 1 to 48 printable characters without `/`, `?` or `#`",
            );
        }
    }
    if let Some(m) = &cfg.mqtt {
        let ok = m
            .broker
            .split_once("://")
            .is_some_and(|(s, rest)| matches!(s, "mqtt" | "mqtts") && !rest.is_empty());
        if !ok {
            c.err(
                "mqtt.broker",
                format!(
                    "`{}` must look like mqtt://host:1883 or mqtts://host:8883",
                    redact_url(&m.broker)
                ),
            );
        }
        if url_has_password(&m.broker) {
            c.err(
                "mqtt.broker",
                "the URL carries a password: put the credentials in the file named by \
                 mqtt.credentials_file",
            );
        }
        if let Some(prefix) = &m.topic_prefix
            && (prefix.is_empty() || prefix.contains(['#', '+']) || prefix.ends_with('/'))
        {
            c.err(
                "mqtt.topic_prefix",
                "must be non-empty, without `#`, `+` or a trailing `/`",
            );
        }
    }
    let a = &cfg.auth;
    if let Some(tag) = &a.free_vend_id_tag
        && (tag.is_empty() || tag.chars().count() > 20)
    {
        c.err("auth.free_vend_id_tag", "an idTag has 1 to 20 characters");
    }
    if let Some(t) = &cfg.tariff {
        if !(t.currency.len() == 3 && t.currency.chars().all(|ch| ch.is_ascii_uppercase())) {
            c.err(
                "tariff.currency",
                "use an ISO 4217 code such as EUR, CHF, GBP",
            );
        }
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        for (i, b) in t.bands.iter().enumerate() {
            let p = format!("tariff.bands[{i}]");
            for (k, v) in [("start", &b.start), ("end", &b.end)] {
                if parse_hhmm(v).is_none() {
                    c.err(
                        format!("{p}.{k}"),
                        format!("`{v}` is not a time of day HH:MM"),
                    );
                }
            }
            for (j, d) in b.days.iter().enumerate() {
                if !DAYS.contains(&d.as_str()) {
                    c.err(
                        format!("{p}.days[{j}]"),
                        format!("unknown day `{d}`{} (use mon..sun)", suggestion(d, DAYS)),
                    );
                }
            }
        }
    }
    if tracing_subscriber::EnvFilter::try_new(&cfg.log.level).is_err() {
        c.err(
            "log.level",
            format!(
                "`{}` is not a log filter (try info, debug, or hubgate=debug,warn)",
                cfg.log.level
            ),
        );
    }
}

/// Minutes since midnight of `HH:MM` (24:00 allowed as an end).
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
}
