//! The OCPP session task: owns the websocket and the charge point logic, redials with back-off,
//! pings, and talks to the rest of the daemon through bounded channels.

use super::config::LinkConfig;
use super::dial::{Ws, dial};
use crate::clock::Moment;
use crate::ocpp::chargepoint::{ChargePoint, Output, Registration, SiteCommand, SiteEvent};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;

/// Depth of the event and command channels.
pub const CHANNEL_DEPTH: usize = 256;
/// Longest wait for one frame to be written.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The websocket's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected,
    /// Down; waiting before the next dial.
    Offline,
}

/// What `hubgate status` and alerts show about the uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    pub state: LinkState,
    pub registration: Registration,
    /// Transaction messages not yet delivered.
    pub outbox_depth: usize,
    /// Successful dials since start.
    pub connects: u64,
}

/// The daemon's side of the OCPP session.
///
/// Send [`SiteEvent`]s into `events`; receive [`SiteCommand`]s from `commands` (keep draining
/// it: the session waits when it is full); watch `status`. Dropping `events` ends the session.
#[derive(Debug)]
pub struct OcppHandle {
    pub events: mpsc::Sender<SiteEvent>,
    pub commands: mpsc::Receiver<SiteCommand>,
    pub status: watch::Receiver<LinkStatus>,
}

/// Where the session reads the time it passes to the charge point: [`Moment::now`] in the
/// daemon; a test may shift the wall clock to see that no timer follows it.
pub type Clock = Arc<dyn Fn() -> Moment + Send + Sync>;

/// Start the session task.
pub fn spawn(cfg: LinkConfig, cp: ChargePoint) -> (OcppHandle, JoinHandle<()>) {
    spawn_with_clock(cfg, cp, Arc::new(Moment::now))
}

/// Start the session task reading the time from `clock`.
pub fn spawn_with_clock(
    cfg: LinkConfig,
    cp: ChargePoint,
    clock: Clock,
) -> (OcppHandle, JoinHandle<()>) {
    let (handle, session) = prepare_with_clock(cfg, cp, clock);
    (handle, tokio::spawn(session))
}

/// The session as a future, for the caller to run where it likes (e.g. on a thread of its own
/// when the charge point's stores block on disk writes).
pub fn prepare(
    cfg: LinkConfig,
    cp: ChargePoint,
) -> (OcppHandle, impl Future<Output = ()> + Send + 'static) {
    prepare_with_clock(cfg, cp, Arc::new(Moment::now))
}

/// [`prepare`] reading the time from `clock`.
pub fn prepare_with_clock(
    cfg: LinkConfig,
    cp: ChargePoint,
    clock: Clock,
) -> (OcppHandle, impl Future<Output = ()> + Send + 'static) {
    // a process-wide provider for other rustls users; ours is passed explicitly
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (events_tx, events) = mpsc::channel(CHANNEL_DEPTH);
    let (commands, commands_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (status_tx, status) = watch::channel(LinkStatus {
        state: LinkState::Connecting,
        registration: cp.registration(),
        outbox_depth: cp.outbox_depth(),
        connects: 0,
    });
    let span = tracing::info_span!("ocpp", identity = %cfg.identity);
    let session = Session {
        cfg,
        cp,
        events,
        commands,
        status: status_tx,
        ping_s: 0,
        connects: 0,
        clock,
    };
    (
        OcppHandle {
            events: events_tx,
            commands: commands_rx,
            status,
        },
        session.run().instrument(span),
    )
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Shutdown,
}

struct Session {
    cfg: LinkConfig,
    cp: ChargePoint,
    events: mpsc::Receiver<SiteEvent>,
    commands: mpsc::Sender<SiteCommand>,
    status: watch::Sender<LinkStatus>,
    ping_s: u32,
    connects: u64,
    clock: Clock,
}

impl Session {
    async fn run(mut self) {
        let mut attempt = 0u32;
        loop {
            self.publish(LinkState::Connecting);
            match dial(&self.cfg).await {
                Ok(ws) => {
                    attempt = 0;
                    self.connects += 1;
                    tracing::info!(url = %self.cfg.url_for_logs(), "connected to the CSMS");
                    if self.connected(ws).await == Flow::Shutdown {
                        return;
                    }
                }
                Err(e) => tracing::warn!(url = %self.cfg.url_for_logs(), "cannot connect: {e}"),
            }
            let jitter = rand::random_range(0.5..=1.0);
            let delay = self.cfg.backoff.delay(attempt, jitter);
            attempt = attempt.saturating_add(1);
            self.publish(LinkState::Offline);
            if self.offline(delay).await == Flow::Shutdown {
                return;
            }
        }
    }

    fn publish(&self, state: LinkState) {
        self.status.send_replace(LinkStatus {
            state,
            registration: self.cp.registration(),
            outbox_depth: self.cp.outbox_depth(),
            connects: self.connects,
        });
    }

    /// Keep serving the site while waiting `delay` before the next dial.
    async fn offline(&mut self, delay: Duration) -> Flow {
        let deadline = tokio::time::sleep(delay);
        tokio::pin!(deadline);
        let mut tick = ticker();
        loop {
            let out = tokio::select! {
                _ = &mut deadline => return Flow::Continue,
                ev = self.events.recv() => match ev {
                    Some(ev) => self.cp.on_site(ev, (self.clock)()),
                    None => return Flow::Shutdown,
                },
                _ = tick.tick() => self.cp.on_tick((self.clock)()),
            };
            self.apply(None, out).await;
        }
    }

    /// Serve one connection until it drops (or the daemon shuts the session down).
    async fn connected(&mut self, mut ws: Ws) -> Flow {
        self.publish(LinkState::Connected);
        let out = self.cp.on_connected((self.clock)());
        let mut alive = self.apply(Some(&mut ws), out).await;
        let mut tick = ticker();
        let mut last_ping = Instant::now();
        let mut awaiting_pong: Option<Instant> = None;
        let mut flow = Flow::Continue;
        while alive {
            let out = tokio::select! {
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => self.cp.on_text(text.as_str(), (self.clock)()),
                    Some(Ok(Message::Pong(_))) => {
                        awaiting_pong = None;
                        continue;
                    }
                    Some(Ok(Message::Ping(_))) => {
                        // tungstenite queued the pong; push it out
                        alive = ws.flush().await.is_ok();
                        continue;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        tracing::warn!("binary frame ignored: OCPP-J uses text frames");
                        continue;
                    }
                    Some(Ok(Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(reason))) => {
                        tracing::info!(?reason, "the CSMS closed the connection");
                        break;
                    }
                    Some(Err(e)) => {
                        tracing::warn!("websocket error: {e}");
                        break;
                    }
                    None => break,
                },
                ev = self.events.recv() => match ev {
                    Some(ev) => self.cp.on_site(ev, (self.clock)()),
                    None => {
                        flow = Flow::Shutdown;
                        let _ = tokio::time::timeout(SEND_TIMEOUT, ws.close(None)).await;
                        break;
                    }
                },
                _ = tick.tick() => {
                    let interval = Duration::from_secs(u64::from(self.ping_s));
                    if self.ping_s > 0 {
                        if let Some(sent) = awaiting_pong {
                            if sent.elapsed() >= interval {
                                tracing::warn!("no pong within {interval:?}: the link is dead");
                                break;
                            }
                        } else if last_ping.elapsed() >= interval {
                            last_ping = Instant::now();
                            awaiting_pong = Some(last_ping);
                            alive = send(&mut ws, Message::Ping(Default::default())).await;
                        }
                    }
                    self.cp.on_tick((self.clock)())
                }
            };
            alive = alive && self.apply(Some(&mut ws), out).await;
        }
        let out = self.cp.on_disconnected((self.clock)());
        self.apply(None, out).await;
        self.publish(LinkState::Offline);
        flow
    }

    /// Carry out the charge point's outputs; false when the websocket failed.
    async fn apply(&mut self, mut ws: Option<&mut Ws>, out: Vec<Output>) -> bool {
        let mut ok = true;
        for o in out {
            match o {
                Output::Send(text) => match ws.as_deref_mut() {
                    Some(ws) if ok => {
                        tracing::debug!(frame = %text, "send");
                        ok = send(ws, Message::Text(text.into())).await;
                    }
                    _ => tracing::debug!("frame not sent: link down"),
                },
                Output::Site(cmd) => {
                    if self.commands.send(cmd).await.is_err() {
                        tracing::debug!("no one listens to site commands");
                    }
                }
                Output::PingInterval(s) => self.ping_s = s,
            }
        }
        let state = if ws.is_some() && ok {
            LinkState::Connected
        } else {
            LinkState::Offline
        };
        self.publish(state);
        ok
    }
}

fn ticker() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}

async fn send(ws: &mut Ws, msg: Message) -> bool {
    match tokio::time::timeout(SEND_TIMEOUT, ws.send(msg)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!("send failed: {e}");
            false
        }
        Err(_) => {
            tracing::warn!("send timed out");
            false
        }
    }
}
