//! The independent CSMS (tests/csms/csms.py, on the Python `ocpp` package) as a child process,
//! and a hubgate charge point session pointed at it.
#![allow(dead_code)]

use hubgate::clock::Moment;
use hubgate::ocpp::chargepoint::{ChargePoint, Setup, SiteCommand, SiteEvent};
use hubgate::ocpp::keys::{Configuration, MemoryConfigStore};
use hubgate::ocpp::link::{
    Backoff, Clock, LinkConfig, LinkStatus, OcppHandle, SecurityProfile, spawn_with_clock,
};
use hubgate::ocpp::local_list::MemoryLocalList;
use hubgate::ocpp::messages::{
    BootNotification, ChargePointErrorCode, ChargePointStatus, CiString20,
};
use hubgate::ocpp::outbox::MemoryOutbox;
use hubgate::ocpp::profiles::{ConnectorShape, SiteShape};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

pub const WAIT: Duration = Duration::from_secs(15);
const INSTALL: &str = "the interop tests need python3 with the packages of tests/csms/requirements.txt: \
                       python3 -m pip install -r tests/csms/requirements.txt";

/// The CSMS child process.
pub struct Csms {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pub port: u16,
    /// Every event read so far.
    pub log: Vec<Value>,
    /// Log entries already returned by [`wait`](Self::wait).
    claimed: Vec<bool>,
    tag: u64,
}

impl Csms {
    pub async fn start(args: &[&str]) -> Csms {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/csms/csms.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {INSTALL}"));
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut csms = Csms {
            child,
            stdin,
            lines,
            port: 0,
            log: Vec::new(),
            claimed: Vec::new(),
            tag: 0,
        };
        let listening = tokio::time::timeout(WAIT, csms.read_until(|e| e["event"] == "listening"))
            .await
            .unwrap_or_else(|_| panic!("the CSMS did not start; {INSTALL}"));
        match listening {
            Some(e) => csms.port = e["port"].as_u64().expect("port") as u16,
            None => panic!("the CSMS exited at start; {INSTALL}"),
        }
        csms
    }

    async fn read_until(&mut self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(i) = (0..self.log.len()).find(|&i| !self.claimed[i] && pred(&self.log[i])) {
            self.claimed[i] = true;
            return Some(self.log[i].clone());
        }
        while let Ok(Some(line)) = self.lines.next_line().await {
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let hit = pred(&event);
            self.log.push(event.clone());
            self.claimed.push(hit);
            if hit {
                return Some(event);
            }
        }
        None
    }

    /// The first event matching `pred` not returned before (it may have been read already while
    /// waiting for another), within [`WAIT`].
    pub async fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(what, WAIT, pred).await
    }

    /// [`wait`](Self::wait) with another time limit.
    pub async fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        match tokio::time::timeout(limit, self.read_until(pred)).await {
            Ok(Some(e)) => e,
            Ok(None) => panic!(
                "the CSMS exited while waiting for {what}; log: {:#?}",
                self.log
            ),
            Err(_) => panic!("no {what} within {limit:?}; log: {:#?}", self.log),
        }
    }

    /// Read what the CSMS reported for `period` (into the log), claiming nothing: keeps its
    /// output pipe from filling while a test does other things.
    pub async fn drain(&mut self, period: Duration) {
        let _ = tokio::time::timeout(period, self.read_until(|_| false)).await;
    }

    /// The next CALL of `action` from the charge point: its payload.
    pub async fn recv_call(&mut self, action: &str) -> Value {
        let e = self
            .wait(action, |e| {
                e["event"] == "recv" && e["frame"][0] == 2 && e["frame"][2] == action
            })
            .await;
        e["frame"][3].clone()
    }

    pub async fn command(&mut self, cmd: Value) {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("CSMS stdin");
        self.stdin.flush().await.expect("CSMS stdin");
    }

    /// Send a CALL to the charge point and return its answer event
    /// (`result`, `call_error`, `invalid_response` or `timeout`).
    pub async fn call(&mut self, action: &str, payload: Value) -> Value {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.command(json!({"cmd": "call", "action": action, "payload": payload, "tag": tag}))
            .await;
        self.wait(&format!("the answer to {action}"), |e| {
            e["tag"] == tag.as_str()
        })
        .await
    }

    /// [`call`](Self::call) that must succeed: the answer's payload.
    pub async fn call_ok(&mut self, action: &str, payload: Value) -> Value {
        let e = self.call(action, payload).await;
        assert_eq!(e["event"], "result", "{action}: {e}");
        e["payload"].clone()
    }

    /// Send raw text and return the charge point's reply frame.
    pub async fn raw(&mut self, text: &str) -> Value {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.command(json!({"cmd": "raw", "frame": text, "tag": tag}))
            .await;
        let e = self.wait("a raw reply", |e| e["tag"] == tag.as_str()).await;
        assert_eq!(e["event"], "raw_reply", "{e}");
        e["frame"].clone()
    }

    /// Events in which the CSMS refused what the charge point sent (schema breaks).
    pub fn complaints(&self) -> Vec<&Value> {
        self.log
            .iter()
            .filter(|e| e["event"] == "csms_callerror" || e["event"] == "invalid_response")
            .collect()
    }

    pub fn assert_no_complaints(&self) {
        let c = self.complaints();
        assert!(c.is_empty(), "the CSMS refused hubgate's messages: {c:#?}");
    }

    /// Stop the CSMS and return everything it reported.
    pub async fn finish(mut self) -> Vec<Value> {
        self.command(json!({"cmd": "quit"})).await;
        let _ = tokio::time::timeout(WAIT, self.read_until(|_| false)).await;
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
        std::mem::take(&mut self.log)
    }

    pub async fn quit(mut self) {
        let _ = self.command(json!({"cmd": "quit"})).await;
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }
}

/// A two-connector site.
pub fn setup() -> Setup {
    let shape = SiteShape {
        nominal_voltage_v: 230.0,
        connectors: BTreeMap::from([
            (
                1,
                ConnectorShape {
                    phases: 3,
                    max_a: 32.0,
                },
            ),
            (
                2,
                ConnectorShape {
                    phases: 1,
                    max_a: 16.0,
                },
            ),
        ]),
        site_max_a: 40.0,
    };
    Setup {
        boot: BootNotification::new(
            CiString20::new("hubgate").unwrap(),
            CiString20::new("site controller").unwrap(),
        ),
        shape,
        phase_rotation: "1.RST,2.RST".into(),
        unlockable: BTreeSet::from([1]),
        id_prefix: format!("{:08x}", rand::random::<u32>()),
        call_timeout: Duration::from_secs(10),
    }
}

pub fn link(port: u16, scheme: &str) -> LinkConfig {
    LinkConfig {
        csms_url: format!("{scheme}://127.0.0.1:{port}/ocpp"),
        identity: "hub-1".into(),
        profile: SecurityProfile::None,
        password: None,
        ca_file: None,
        client_cert: None,
        connect_timeout: Duration::from_secs(5),
        backoff: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
        },
    }
}

/// A charge point session with `keys` preset.
pub fn session(link: LinkConfig, keys: &[(&str, &str)]) -> Session {
    session_with_clock(link, keys, Arc::new(Moment::now))
}

/// A session whose wall clock reads `offset` ms away from the real one (set it to make the
/// wall clock jump); its monotonic clock is the real one.
pub fn session_with_wall_offset(
    link: LinkConfig,
    keys: &[(&str, &str)],
    offset: Arc<AtomicI64>,
) -> Session {
    let clock = move || {
        let now = Moment::now();
        now.wall_jumped(chrono::TimeDelta::milliseconds(
            offset.load(Ordering::SeqCst),
        ))
    };
    session_with_clock(link, keys, Arc::new(clock))
}

/// A session reading the time from `clock`.
pub fn session_with_clock(link: LinkConfig, keys: &[(&str, &str)], clock: Clock) -> Session {
    let store = MemoryConfigStore(
        keys.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let config = Configuration::new(Box::new(store), 2, "1.RST,2.RST");
    let cp = ChargePoint::new(
        setup(),
        config,
        Box::new(MemoryOutbox::default()),
        Box::new(MemoryLocalList::default()),
        clock(),
    );
    let (handle, task) = spawn_with_clock(link, cp, clock);
    Session { handle, task }
}

pub struct Session {
    pub handle: OcppHandle,
    pub task: tokio::task::JoinHandle<()>,
}

impl Session {
    pub async fn event(&self, e: SiteEvent) {
        self.handle.events.send(e).await.expect("session alive");
    }

    pub async fn status(&self, connector: u32, status: ChargePointStatus) {
        self.event(SiteEvent::ConnectorStatus {
            connector,
            status,
            error_code: ChargePointErrorCode::NoError,
            info: None,
            vendor_error_code: None,
        })
        .await;
    }

    /// The next site command matching `pred`.
    pub async fn command(
        &mut self,
        what: &str,
        pred: impl Fn(&SiteCommand) -> bool,
    ) -> SiteCommand {
        let wait = async {
            while let Some(c) = self.handle.commands.recv().await {
                if pred(&c) {
                    return Some(c);
                }
            }
            None
        };
        match tokio::time::timeout(WAIT, wait).await {
            Ok(Some(c)) => c,
            _ => panic!("no site command {what}"),
        }
    }

    /// Wait until the link status satisfies `pred`.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&LinkStatus) -> bool) {
        let r = tokio::time::timeout(WAIT, self.handle.status.wait_for(|s| pred(s))).await;
        assert!(matches!(r, Ok(Ok(_))), "link never reached: {what}");
    }

    /// End the session (drop the event channel) and wait for the task.
    pub async fn stop(self) {
        drop(self.handle.events);
        let _ = tokio::time::timeout(WAIT, self.task).await;
    }
}

/// Every connector reports Available.
pub async fn all_available(s: &Session) {
    for c in 0..=2 {
        s.status(c, ChargePointStatus::Available).await;
    }
}

/// Wait for the boot and the three boot statuses; the BootNotification payload.
pub async fn booted(csms: &mut Csms) -> Value {
    let boot = csms.recv_call("BootNotification").await;
    let mut seen = BTreeSet::new();
    while seen.len() < 3 {
        let p = csms.recv_call("StatusNotification").await;
        seen.insert(p["connectorId"].as_i64().expect("connectorId"));
    }
    boot
}
