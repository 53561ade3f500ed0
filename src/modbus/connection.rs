//! The bus's connection: opened on demand, reopened after failures with its own backoff.

use super::config::Transport;
use super::error::BusError;
use super::health::{BackoffPolicy, Health};
use super::link::Link;
use super::shared::Shared;
use super::stats::LinkStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct Connection {
    transport: Transport,
    connect_timeout: Duration,
    policy: BackoffPolicy,
    shared: Arc<Shared>,
    link: Option<Link>,
    health: Health,
    down_reason: String,
}

impl Connection {
    pub(crate) fn new(
        transport: Transport,
        connect_timeout: Duration,
        policy: BackoffPolicy,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            transport,
            connect_timeout,
            policy,
            shared,
            link: None,
            health: Health::default(),
            down_reason: String::new(),
        }
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn link(&mut self) -> Option<&mut Link> {
        self.link.as_mut()
    }

    /// A transaction got an answer: the connection works, its failures are forgotten.
    pub(crate) fn answered(&mut self) {
        self.health.record_success();
    }

    /// Makes sure a connection is open, connecting if an attempt is due. Returns whether a new
    /// connection was opened.
    pub(crate) async fn ensure(&mut self) -> Result<bool, BusError> {
        let mut fresh = false;
        // Two rounds: a connection found closed by the peer (an idle gateway hanging up) is
        // reopened at once.
        for _ in 0..2 {
            if self.link.is_none() {
                self.connect().await?;
                fresh = true;
            }
            let Some(link) = self.link.as_mut() else {
                continue;
            };
            // Non-blocking look at the line: finds a connection closed by the peer.
            match link.drain(Duration::ZERO, Duration::ZERO).await {
                Ok(_) => return Ok(fresh),
                Err(e) => self.drop_link(format!("connection lost: {e}")),
            }
        }
        Err(BusError::Disconnected {
            reason: self.down_reason.clone(),
            retry_at: self.health.backoff_until().unwrap_or_else(Instant::now),
        })
    }

    async fn connect(&mut self) -> Result<(), BusError> {
        if let Err(retry_at) = self.health.admit(Instant::now()) {
            return Err(BusError::Disconnected {
                reason: self.down_reason.clone(),
                retry_at,
            });
        }
        match Link::open(&self.transport, self.connect_timeout).await {
            Ok(link) => {
                tracing::info!("connected");
                self.link = Some(link);
                let mut stats = self.shared.stats();
                stats.connects += 1;
                stats.link = LinkStatus::Connected {
                    since: Instant::now(),
                };
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "connect failed");
                self.shared.stats().connect_failures += 1;
                self.drop_link(e.to_string());
                Err(e)
            }
        }
    }

    /// Closes the connection after a failure; the next attempt follows the reconnect backoff.
    pub(crate) fn drop_link(&mut self, reason: String) {
        if self.link.take().is_some() {
            tracing::warn!(%reason, "dropping connection");
        }
        let now = Instant::now();
        let retry_at = self.health.record_failure(now, &self.policy).unwrap_or(now);
        self.down_reason = reason.clone();
        self.shared.stats().link = LinkStatus::Down { reason, retry_at };
    }

    /// Closes the connection gracefully (the bus is stopping).
    pub(crate) async fn close(&mut self) {
        if let Some(link) = self.link.take() {
            link.close(self.connect_timeout).await;
        }
    }
}
