//! `hubgate probe` and `hubgate scan`: commissioning tools that talk to one bus directly.

use super::CommandError;
use crate::cli::LineArgs;
use crate::device::{poll_device, write_all};
use crate::driver::{DeviceReading, Registry};
use crate::modbus::{
    Bus, BusHandle, BusOptions, Parity, RegisterKind, SerialLine, StopBits, Transport,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The transport and options the command line describes.
pub fn line_transport(line: &LineArgs) -> Result<(Transport, BusOptions), CommandError> {
    let transport = if let Some(a) = &line.tcp {
        Transport::Tcp { address: a.clone() }
    } else if let Some(a) = &line.rtu_over_tcp {
        Transport::RtuOverTcp { address: a.clone() }
    } else if let Some(path) = &line.serial {
        let parity = match line.parity.to_ascii_lowercase().as_str() {
            "none" | "n" => Parity::None,
            "even" | "e" => Parity::Even,
            "odd" | "o" => Parity::Odd,
            other => {
                return Err(CommandError::Usage(format!(
                    "parity {other}: use none, even or odd"
                )));
            }
        };
        let stop_bits = match line.stop_bits {
            1 => StopBits::One,
            2 => StopBits::Two,
            n => return Err(CommandError::Usage(format!("stop bits {n}: use 1 or 2"))),
        };
        Transport::Rtu(SerialLine {
            path: path.display().to_string(),
            baud_rate: line.baud,
            parity,
            stop_bits,
        })
    } else {
        return Err(CommandError::Usage(
            "give --tcp, --rtu-over-tcp or --serial".into(),
        ));
    };
    let options = BusOptions {
        request_timeout: Duration::from_millis(line.timeout_ms),
        // A probe is one person at a terminal: never hold back a retry.
        failures_before_backoff: u32::MAX,
        ..BusOptions::default()
    };
    Ok((transport, options))
}

fn open(line: &LineArgs) -> Result<BusHandle, CommandError> {
    let (transport, options) = line_transport(line)?;
    Ok(Bus::spawn("probe", transport, options))
}

/// Options of `hubgate probe`.
#[derive(Debug, Clone)]
pub struct ProbeArgs {
    pub driver: String,
    pub line: LineArgs,
    pub unit: u8,
    pub set_current: Option<f64>,
    pub json: bool,
    pub driver_dirs: Vec<PathBuf>,
}

/// Reads everything the driver knows from one device and prints it; with `set_current`, writes
/// that current limit first.
pub async fn probe(args: ProbeArgs) -> Result<ExitCode, CommandError> {
    let registry = Registry::load(&args.driver_dirs)?;
    let driver = registry.get(&args.driver).ok_or_else(|| {
        CommandError::Usage(format!(
            "no driver named {}{}",
            args.driver,
            crate::config::did_you_mean(&args.driver, registry.iter().map(|d| d.name.as_str()))
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default()
        ))
    })?;
    let bus = open(&args.line)?;
    if let Some(amps) = args.set_current {
        if driver.charger.is_none() {
            return Err(CommandError::Usage(format!(
                "{} is not a charger",
                driver.name
            )));
        }
        let phases = driver.phases;
        let writes = driver.setpoint_writes(amps, 230.0, phases);
        write_all(&bus, args.unit, &writes).await?;
        if !args.json {
            println!(
                "wrote current limit {amps} A ({} register writes)",
                writes.len()
            );
        }
    }
    let reading = poll_device(&bus, args.unit, &driver)
        .await
        .map_err(|e| CommandError::Other(format!("unit {}: {e}", args.unit)))?;
    bus.close().await;
    if args.json {
        let json = serde_json::to_string_pretty(&reading)
            .map_err(|e| CommandError::Other(e.to_string()))?;
        println!("{json}");
    } else {
        print!("{}", render(&driver.name, args.unit, &reading));
    }
    Ok(ExitCode::SUCCESS)
}

/// The reading as an aligned table of the values the device gave.
pub fn render(driver: &str, unit: u8, r: &DeviceReading) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let phases = |name: &str,
                  unit: &str,
                  v: &crate::phase::PerPhase<Option<f64>>,
                  rows: &mut Vec<(String, String)>| {
        for (i, x) in v.0.iter().enumerate() {
            if let Some(x) = x {
                rows.push((format!("{name} L{}", i + 1), format!("{x:.2} {unit}")));
            }
        }
    };
    phases("current", "A", &r.currents_a, &mut rows);
    phases("voltage", "V", &r.voltages_v, &mut rows);
    phases("power", "W", &r.powers_w, &mut rows);
    let mut one = |name: &str, v: Option<f64>, unit: &str| {
        if let Some(x) = v {
            rows.push((name.to_string(), format!("{x:.2} {unit}")));
        }
    };
    one("power total", r.power_w, "W");
    one("energy import", r.energy_import_wh, "Wh");
    one("energy export", r.energy_export_wh, "Wh");
    one("frequency", r.frequency_hz, "Hz");
    if let Some(c) = &r.charger {
        if let Some(raw) = c.status_raw {
            let iec = c
                .iec
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "?".into());
            let ocpp = c
                .ocpp
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|| "unknown".into());
            rows.push((
                "status".into(),
                format!("{raw} (IEC state {iec}, OCPP {ocpp})"),
            ));
        }
        if let Some(e) = c.error_code {
            rows.push(("error code".into(), e.to_string()));
        }
        let mut one = |name: &str, v: Option<f64>, unit: &str| {
            if let Some(x) = v {
                rows.push((name.to_string(), format!("{x:.2} {unit}")));
            }
        };
        one("current limit", c.current_limit_a, "A");
        one("max current", c.max_current_a, "A");
        one("cable max current", c.cable_max_current_a, "A");
        one("session energy", c.session_energy_wh, "Wh");
        if let Some(p) = c.phases_in_use {
            rows.push(("phases in use".into(), p.to_string()));
        }
        for (name, v) in [
            ("id tag", &c.id_tag),
            ("serial number", &c.serial_number),
            ("firmware", &c.firmware_version),
        ] {
            if let Some(v) = v {
                rows.push((name.into(), v.clone()));
            }
        }
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!("{driver} at unit {unit}\n");
    for (k, v) in rows {
        out.push_str(&format!("  {k:<width$}  {v}\n"));
    }
    out
}

/// Lists the unit ids in `from..=to` that answer.
pub async fn scan(
    line: &LineArgs,
    from: u8,
    to: u8,
    register: u16,
    input: bool,
) -> Result<ExitCode, CommandError> {
    if from > to {
        return Err(CommandError::Usage(format!(
            "--from {from} is above --to {to}"
        )));
    }
    let bus = open(line)?;
    let kind = if input {
        RegisterKind::Input
    } else {
        RegisterKind::Holding
    };
    let found = crate::modbus::scan_with(&bus, from..=to, kind, register).await?;
    bus.close().await;
    if found.is_empty() {
        println!("no unit answered in {from}..={to}");
        return Ok(ExitCode::FAILURE);
    }
    for u in found {
        println!("unit {u} answers");
    }
    Ok(ExitCode::SUCCESS)
}
