//! A real MQTT broker (mosquitto) for the tests, on a free loopback port, and an observer client.
#![allow(dead_code)]

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A mosquitto process; killed on drop.
pub struct Broker {
    pub port: u16,
    /// A TLS listener, when started with certificates.
    pub tls_port: Option<u16>,
    child: Child,
    _dir: tempfile::TempDir,
}

fn mosquitto() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("mosquitto is not installed: run tests/provision.sh");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    pub async fn start() -> Broker {
        Self::start_on(free_port()).await
    }

    /// Starts a broker on `port` (to bring one back on the same port after an outage).
    pub async fn start_on(port: u16) -> Broker {
        Self::start_with(port, None, None).await
    }

    /// A broker that admits only `users` (name, password) and enforces `acl` (mosquitto's
    /// `acl_file` syntax).
    pub async fn start_with_acl(users: &[(&str, &str)], acl: &str) -> Broker {
        Self::start_with(free_port(), None, Some((users, acl))).await
    }

    /// A broker with a plain listener and a TLS one using these PEM files (ca, cert, key).
    pub async fn start_tls(
        ca: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Broker {
        Self::start_with(free_port(), Some((free_port(), ca, cert, key)), None).await
    }

    async fn start_with(
        port: u16,
        tls: Option<(u16, &std::path::Path, &std::path::Path, &std::path::Path)>,
        auth: Option<(&[(&str, &str)], &str)>,
    ) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        let mut text = format!(
            "per_listener_settings false\nallow_anonymous {}\npersistence false\nlistener {port} 127.0.0.1\n",
            auth.is_none()
        );
        if let Some((users, acl)) = auth {
            let (pw, acl_file) = (dir.path().join("passwd"), dir.path().join("acl"));
            std::fs::write(&pw, "").unwrap();
            for (user, password) in users {
                let ok = Command::new("mosquitto_passwd")
                    .arg("-b")
                    .arg(&pw)
                    .args([user, password])
                    .status()
                    .expect("mosquitto_passwd");
                assert!(ok.success(), "mosquitto_passwd {user}");
            }
            std::fs::write(&acl_file, acl).unwrap();
            text.push_str(&format!(
                "password_file {}\nacl_file {}\n",
                pw.display(),
                acl_file.display()
            ));
        }
        if let Some((tls_port, ca, cert, key)) = tls {
            text.push_str(&format!(
                "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
                ca.display(),
                cert.display(),
                key.display()
            ));
        }
        std::fs::write(&conf, text).unwrap();
        let child = Command::new(mosquitto())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        // Ready when it accepts connections (bounded).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mosquitto did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some((tls_port, ..)) = tls {
            loop {
                if tokio::net::TcpStream::connect(("127.0.0.1", tls_port))
                    .await
                    .is_ok()
                {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "mosquitto TLS listener did not start"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Broker {
            port,
            tls_port: tls.map(|t| t.0),
            child,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops the broker at once (an outage).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client that subscribes to a filter and collects what arrives.
pub struct Observer {
    pub client: AsyncClient,
    events: EventLoop,
}

impl Observer {
    pub async fn connect(port: u16, filter: &str) -> Observer {
        Self::connect_with(port, filter, None).await
    }

    /// An observer that logs in as `user`.
    pub async fn connect_as(port: u16, filter: &str, user: &str, password: &str) -> Observer {
        Self::connect_with(port, filter, Some((user, password))).await
    }

    async fn connect_with(port: u16, filter: &str, login: Option<(&str, &str)>) -> Observer {
        let mut opts = MqttOptions::new(format!("observer-{}", rand_id()), "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(5));
        opts.set_max_packet_size(1 << 20, 1 << 20);
        if let Some((user, password)) = login {
            opts.set_credentials(user, password);
        }
        let (client, mut events) = AsyncClient::new(opts, 64);
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        // Wait for the subscription to be acknowledged.
        loop {
            match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("observer: {e}"),
                Err(_) => panic!("observer: no SUBACK"),
            }
        }
        Observer { client, events }
    }

    /// The next publish whose topic satisfies `pred`, with its retain flag (bounded wait).
    pub async fn next_where(
        &mut self,
        pred: impl Fn(&str, &str) -> bool,
    ) -> (String, String, bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.poll())
                .await
                .expect("no matching message within 15 s")
                .expect("observer connection");
            if let Event::Incoming(Packet::Publish(p)) = ev {
                let payload = String::from_utf8_lossy(&p.payload).into_owned();
                if pred(&p.topic, &payload) {
                    return (p.topic, payload, p.retain);
                }
            }
        }
    }

    /// The latest payload of each of `topics`, waiting until all have arrived (in any order),
    /// with whether each arrived as a retained message.
    pub async fn gather(
        &mut self,
        topics: &[&str],
    ) -> std::collections::HashMap<String, (String, bool)> {
        let mut got = std::collections::HashMap::new();
        while got.len() < topics.len() {
            let (t, p, r) = self.next_where(|t, _| topics.contains(&t)).await;
            got.insert(t, (p, r));
        }
        got
    }

    /// Publishes at QoS 1 and waits (bounded) for the broker's PUBACK: the broker has handled
    /// it (delivered or, denied by its ACL, dropped) before anything published after.
    pub async fn publish_acked(&mut self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.poll())
                .await
                .expect("no PUBACK within 15 s")
                .expect("observer connection");
            if matches!(ev, Event::Incoming(Packet::PubAck(_))) {
                return;
            }
        }
    }

    /// Every publish up to and including the first that satisfies `pred` (within 15 s in all),
    /// with its retain flag: to count what came before it.
    pub async fn until(
        &mut self,
        pred: impl Fn(&str, &str) -> bool,
    ) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let Ok(ev) = tokio::time::timeout_at(deadline, self.events.poll()).await else {
                panic!("no matching message within 15 s; got {out:?}");
            };
            let ev = ev.expect("observer connection");
            if let Event::Incoming(Packet::Publish(p)) = ev {
                let payload = String::from_utf8_lossy(&p.payload).into_owned();
                let done = pred(&p.topic, &payload);
                out.push((p.topic, payload, p.retain));
                if done {
                    return out;
                }
            }
        }
    }

    /// Every publish arriving within `window` (to check that something does NOT arrive twice).
    pub async fn collect_for(&mut self, window: Duration) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let end = tokio::time::Instant::now() + window;
        while let Ok(ev) = tokio::time::timeout_at(end, self.events.poll()).await {
            if let Ok(Event::Incoming(Packet::Publish(p))) = ev {
                out.push((
                    p.topic.clone(),
                    String::from_utf8_lossy(&p.payload).into_owned(),
                ));
            }
        }
        out
    }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    u64::from(std::process::id()) * 1000 + N.fetch_add(1, Ordering::Relaxed)
}

/// A TCP relay in front of the broker: `cut()` drops every connection and refuses new ones (a
/// network or broker outage as hubgate sees it) while observers connected to the broker directly
/// see everything; `restore()` ends the outage.
pub struct Relay {
    pub port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: u16) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (d, c) = (down.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                else {
                    continue;
                };
                let task = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                c.lock().unwrap().push(task);
            }
        });
        Relay {
            port,
            down,
            conns,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    pub fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
