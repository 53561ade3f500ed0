//! The MQTT task: owns the broker connection; takes the site view from a `watch` channel (so the
//! control loop never waits for it), publishes state, alerts and answers, and feeds commands into
//! the external limits.
//!
//! While the broker is away, state is coalesced per topic (only the newest value of each retained
//! topic is kept, so the buffer is bounded by the number of topics and older telemetry is what
//! gets dropped); alert events are kept in order until the broker acknowledges them (QoS 1).

use super::alerts::{AlertEvent, AlertTracker};
use super::commands::{self, Bounds, MqttLimits, Now, Response};
use super::persist::{self, Persisted, WallClock};
use super::signed::Verifier;
use super::tls;
use super::topics::{Message, Topics};
use super::{MqttSettings, Security};
use crate::limits::ExternalLimits;
use crate::view::SiteView;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, Transport};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Alert events kept at most while the broker is away (the oldest go first beyond this).
const MAX_QUEUED_ALERTS: usize = 10_000;

struct State {
    topics: Topics,
    connected: bool,
    /// Retained state waiting to go out, newest per topic.
    pending: BTreeMap<String, Message>,
    /// What the broker has of each retained topic.
    sent: HashMap<String, String>,
    alerts: VecDeque<AlertEvent>,
    /// Alerts handed to the client, waiting for their packet id (in order) and then their ack.
    awaiting_id: VecDeque<AlertEvent>,
    unacked: HashMap<u16, AlertEvent>,
    tracker: AlertTracker,
    limits: MqttLimits,
    discovery: Vec<Message>,
    /// The monotonic origin: limits lapse by it, never by the wall clock.
    started: Instant,
    wall: WallClock,
    /// With a command key: checks signatures and nonces.
    verifier: Option<Verifier>,
    /// The state file's writer, when there is a state file.
    saver: Option<watch::Sender<Option<Persisted>>>,
}

impl State {
    fn now(&self) -> Now {
        Now {
            mono_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            unix_ms: self.wall.now_ms(),
        }
    }
}

/// A message on a command topic.
struct Incoming<'a> {
    /// The topic below `<prefix>/cmd/`.
    sub: &'a str,
    payload: &'a [u8],
    retained: bool,
}

/// The largest packet hubgate takes from the broker (bytes). Anything bigger makes the MQTT
/// library drop the connection, so the broker should refuse it first (`docs/mqtt.md`); commands
/// are refused with an answer far below this, at [`commands::MAX_COMMAND_BYTES`].
pub const MAX_INCOMING_PACKET: usize = 256 * 1024;
/// The largest packet hubgate sends (bytes): the daily summary of a large site fits with room.
/// A message that would not fit is dropped with a warning, never sent to break the connection.
pub const MAX_OUTGOING_PACKET: usize = 1024 * 1024;

fn options(settings: &MqttSettings, topics: &Topics, host: String, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(settings.client_id.clone(), host, port);
    options.set_keep_alive(Duration::from_secs(15));
    options.set_clean_session(true);
    options.set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
    options.set_last_will(LastWill::new(
        topics.status(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(c) = &settings.credentials
        && let Some(user) = &c.username
    {
        options.set_credentials(user.clone(), c.password.clone().unwrap_or_default());
    }
    options
}

/// Runs until `stop` turns true.
pub async fn run(
    settings: MqttSettings,
    mut view: watch::Receiver<SiteView>,
    limits_tx: watch::Sender<ExternalLimits>,
    mut stop: watch::Receiver<bool>,
) {
    let topics = Topics::new(&settings.prefix);
    let mut options = options(&settings, &topics, settings.host.clone(), settings.port);
    // TLS runs through hubgate's own rustls connector behind a private Unix socket.
    let _bridge = match &settings.security {
        Security::Plain => None,
        Security::Tls(tls_settings) => match tls::Bridge::start(&settings, tls_settings).await {
            Ok(bridge) => {
                options = self::options(&settings, &topics, bridge.path_string(), 0);
                options.set_transport(Transport::unix());
                Some(bridge)
            }
            Err(e) => {
                warn!(error = %e, "MQTT over TLS unavailable");
                return;
            }
        },
    };
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    let bounds = Bounds {
        grid_limit_a: settings.grid_limit_a,
        chargers: settings.chargers.clone(),
    };
    let mut s = State {
        topics,
        connected: false,
        pending: BTreeMap::new(),
        sent: HashMap::new(),
        alerts: VecDeque::new(),
        awaiting_id: VecDeque::new(),
        unacked: HashMap::new(),
        tracker: AlertTracker::new(settings.alerts.clone()),
        limits: MqttLimits::default(),
        discovery: Vec::new(),
        started: Instant::now(),
        wall: settings.wall_clock.clone(),
        verifier: settings.command_key.clone().map(Verifier::new),
        saver: settings.state_file.clone().map(persist::spawn_writer),
    };
    if let Some(path) = &settings.state_file {
        s.limits = persist::load(path, s.now(), &bounds);
        publish_limits(&mut s, &limits_tx);
    }
    let mut retry_at: Option<Instant> = None;
    // The daily summary: at start, then after each local midnight (the instant it is due for).
    let mut daily_due: Option<(Instant, i64)> = settings
        .daily_report
        .as_ref()
        .map(|_| (Instant::now(), unix_ms()));
    let mut backoff = Duration::from_millis(500);
    info!(broker = %settings.broker, prefix = %s.topics.prefix, "MQTT publishing");

    loop {
        let expiry = s
            .limits
            .next_expiry()
            .map(|ms| s.started + Duration::from_millis(ms));
        tokio::select! {
            ev = eventloop.poll(), if retry_at.is_none() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    info!("MQTT broker connected");
                    backoff = Duration::from_millis(500);
                    s.connected = true;
                    on_connect(&mut s, &client).await;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let cmd_prefix = format!("{}/", s.topics.commands());
                    if let Some(sub) = p.topic.strip_prefix(&cmd_prefix)
                        && sub != "response" {
                            let m = Incoming { sub, payload: &p.payload, retained: p.retain };
                            handle_command(&mut s, &client, m, &bounds, &limits_tx);
                        }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    s.unacked.remove(&ack.pkid);
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) if pkid != 0 => {
                    if let Some(a) = s.awaiting_id.pop_front() {
                        s.unacked.insert(pkid, a);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if s.connected {
                        warn!(error = %e, "MQTT broker connection lost");
                    } else {
                        debug!(error = %e, "MQTT broker not reachable");
                    }
                    s.connected = false;
                    requeue_unacked(&mut s);
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            },
            _ = sleep_until_opt(retry_at) => retry_at = None,
            _ = sleep_until_opt(daily_due.map(|d| d.0)) => {
                let due = daily_due.map_or(0, |d| d.1);
                if let Some(source) = &settings.daily_report {
                    daily_summary(&mut s, source, due).await;
                }
                let now = unix_ms();
                let next = crate::report::load::next_midnight(&chrono::Local, now.max(due));
                let wait = Duration::from_millis(u64::try_from(next - now).unwrap_or(0));
                daily_due = Some((Instant::now() + wait, next));
            }
            _ = sleep_until_opt(expiry) => {
                if s.limits.expire(s.now().mono_ms) {
                    info!("external limit lapsed");
                    publish_limits(&mut s, &limits_tx);
                }
            }
            changed = view.changed() => {
                if changed.is_err() {
                    break;
                }
                let v = view.borrow_and_update().clone();
                take_view(&mut s, &v, &settings);
            }
            _ = stop.changed() => {
                if *stop.borrow() {
                    break;
                }
            }
        }
        if s.connected {
            flush(&mut s, &client);
        }
    }
    if s.connected {
        let _ = client.try_publish(s.topics.status(), QoS::AtMostOnce, true, "offline");
        // Let the event loop send it and the disconnect, within a bound.
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(ev) = eventloop.poll().await {
                if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn on_connect(s: &mut State, client: &AsyncClient) {
    // Subscribe first: the broker handles a client's packets in order, so whoever sees `online`
    // can already send commands.
    if let Err(e) = client.try_subscribe(s.topics.command_filter(), QoS::AtLeastOnce) {
        warn!(error = %e, "cannot subscribe to commands");
    }
    let _ = client.try_publish(s.topics.status(), QoS::AtMostOnce, true, "online");
    // A new session: the broker may have lost or kept anything; send the whole state again.
    for (topic, payload) in s.sent.drain() {
        s.pending.entry(topic.clone()).or_insert(Message {
            topic,
            payload,
            retain: true,
        });
    }
    for m in s.discovery.clone() {
        s.pending.insert(m.topic.clone(), m);
    }
}

fn take_view(s: &mut State, view: &SiteView, settings: &MqttSettings) {
    for m in s.topics.state(view) {
        if s.sent.get(&m.topic) != Some(&m.payload) {
            s.pending.insert(m.topic.clone(), m);
        }
    }
    if settings.home_assistant && s.discovery.is_empty() {
        s.discovery = s
            .topics
            .discovery(&settings.site_id, &settings.site_name, view);
        for m in s.discovery.clone() {
            s.pending.insert(m.topic.clone(), m);
        }
    }
    let storage = settings
        .database
        .as_deref()
        .and_then(super::storage::used_fraction);
    let events = s.tracker.update(view, storage);
    if !events.is_empty() {
        for e in &events {
            info!(alert = %e.id, state = ?e.state, "{}", e.message);
        }
        s.alerts.extend(events);
        while s.alerts.len() > MAX_QUEUED_ALERTS {
            s.alerts.pop_front();
        }
        let m = s.topics.active_alerts(&s.tracker.active());
        s.pending.insert(m.topic.clone(), m);
    }
}

/// Queues the summary of the local day before `due`, retained, on `<prefix>/report/daily`.
async fn daily_summary(s: &mut State, source: &crate::report::daily::DailySource, due: i64) {
    if let Some(payload) = crate::report::daily::payload(source.clone(), unix_ms().max(due)).await {
        let topic = crate::report::daily::topic(&s.topics.prefix);
        let retain = true;
        s.pending.insert(
            topic.clone(),
            Message {
                topic,
                payload,
                retain,
            },
        );
    }
}

fn requeue_unacked(s: &mut State) {
    let mut back: Vec<AlertEvent> = s.unacked.drain().map(|(_, a)| a).collect();
    back.extend(s.awaiting_id.drain(..));
    back.sort_by_key(|a| a.at_ms);
    for a in back.into_iter().rev() {
        s.alerts.push_front(a);
    }
}

fn flush(s: &mut State, client: &AsyncClient) {
    while let Some(a) = s.alerts.front() {
        let Ok(payload) = serde_json::to_string(a) else {
            s.alerts.pop_front();
            continue;
        };
        if client
            .try_publish(s.topics.alert_events(), QoS::AtLeastOnce, false, payload)
            .is_err()
        {
            return; // the client's queue is full: try again after the next event
        }
        if let Some(a) = s.alerts.pop_front() {
            s.awaiting_id.push_back(a);
        }
    }
    while let Some((topic, m)) = s.pending.pop_first() {
        // Fixed header, topic length and topic: well within this margin.
        if m.payload.len() + m.topic.len() + 16 > MAX_OUTGOING_PACKET {
            warn!(topic = %m.topic, bytes = m.payload.len(), "MQTT message too large to send: dropped");
            continue;
        }
        if client
            .try_publish(
                m.topic.clone(),
                QoS::AtMostOnce,
                m.retain,
                m.payload.clone(),
            )
            .is_err()
        {
            s.pending.insert(topic, m);
            return;
        }
        if m.retain {
            s.sent.insert(topic, m.payload);
        }
    }
}

fn publish_limits(s: &mut State, limits_tx: &watch::Sender<ExternalLimits>) {
    let source = s.limits.to_source();
    limits_tx.send_if_modified(|l| {
        let changed = l.mqtt != source;
        l.mqtt = source;
        changed
    });
    if let Some(saver) = &s.saver {
        saver.send_replace(Some(Persisted::of(&s.limits)));
    }
    let m = s.topics.limit(&s.limits);
    s.pending.insert(m.topic.clone(), m);
}

fn handle_command(
    s: &mut State,
    client: &AsyncClient,
    m: Incoming<'_>,
    bounds: &Bounds,
    limits_tx: &watch::Sender<ExternalLimits>,
) {
    let sub = m.sub;
    let now = s.now();
    let opened =
        commands::admit(m.retained, m.payload.len()).and_then(|()| match &mut s.verifier {
            Some(v) => v.open(sub, m.payload, now.unix_ms),
            None => Ok(m.payload.to_vec()),
        });
    let (id, result) = match opened {
        Ok(body) => commands::parse(sub, &body, bounds),
        Err(reason) => (commands::id_of(m.payload), Err(reason)),
    };
    let response = match result {
        Ok(command) => {
            info!(command = sub, ?command, "MQTT command accepted");
            s.limits.apply(&command, now);
            publish_limits(s, limits_tx);
            Response {
                id,
                command: sub.to_string(),
                accepted: true,
                reason: None,
            }
        }
        Err(reason) => {
            warn!(command = sub, retained = m.retained, bytes = m.payload.len(), %reason, "MQTT command refused");
            Response {
                id,
                command: sub.to_string(),
                accepted: false,
                reason: Some(reason),
            }
        }
    };
    if let Ok(payload) = serde_json::to_string(&response) {
        // QoS 0: only alert events use packet ids, so every ack maps to an alert.
        let _ = client.try_publish(s.topics.response(), QoS::AtMostOnce, false, payload);
    }
}

pub(super) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
