//! Modbus servers for the simulated devices: one per bus of the site config, Modbus TCP and
//! RTU-over-TCP on loopback, RTU on a pseudo-terminal.

use super::world::SimWorld;
use crate::config::{BusKind, SiteConfig};
use crate::modbus::RegisterKind;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_serial::{SerialPort, SerialStream};
use tracing::{info, warn};

/// The simulated world shared by the servers and the clock.
pub type SharedWorld = Arc<Mutex<SimWorld>>;

/// Locks the world; a panic while it was locked leaves it usable (it is plain data).
pub fn lock(world: &SharedWorld) -> MutexGuard<'_, SimWorld> {
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where the servers listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// As the site config says: TCP buses on their host:port, RTU buses on a pseudo-terminal
    /// linked at their `device` path.
    AsConfigured,
    /// Free loopback ports and pseudo-terminals (the demo and the tests rewrite the config).
    Free,
}

/// Where one bus of the site is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(SocketAddr),
    RtuOverTcp(SocketAddr),
    /// The path a client opens (a symlink to, or the name of, the pseudo-terminal).
    Rtu(PathBuf),
}

/// The running servers. Dropping it stops them.
#[derive(Debug)]
pub struct SimServers {
    pub endpoints: Vec<(String, Endpoint)>,
    tasks: Vec<JoinHandle<()>>,
    /// Keeps the pseudo-terminals open while clients open and reopen them.
    _ptys: Vec<SerialStream>,
    links: Vec<PathBuf>,
}

impl SimServers {
    /// The endpoint of bus `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints
            .iter()
            .find_map(|(n, e)| (n == name).then_some(e))
    }

    /// Points every bus of `config` at its simulated endpoint.
    pub fn rewrite(&self, config: &mut SiteConfig) {
        for bus in &mut config.buses {
            match self.endpoint(&bus.name) {
                Some(Endpoint::Tcp(a)) | Some(Endpoint::RtuOverTcp(a)) => {
                    bus.host = Some(a.ip().to_string());
                    bus.port = Some(a.port());
                }
                Some(Endpoint::Rtu(path)) => bus.device = Some(path.clone()),
                None => {}
            }
        }
    }
}

impl Drop for SimServers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for l in &self.links {
            let _ = std::fs::remove_file(l);
        }
    }
}

/// Serves every bus of `config` from `world`.
pub async fn serve(
    world: SharedWorld,
    config: &SiteConfig,
    ports: Ports,
) -> io::Result<SimServers> {
    let mut servers = SimServers {
        endpoints: Vec::new(),
        tasks: Vec::new(),
        _ptys: Vec::new(),
        links: Vec::new(),
    };
    for bus in &config.buses {
        let service = BusService {
            world: Arc::clone(&world),
            bus: bus.name.clone(),
        };
        let endpoint = match bus.kind {
            BusKind::Tcp | BusKind::RtuOverTcp => {
                let addr = match ports {
                    Ports::Free => "127.0.0.1:0".to_string(),
                    Ports::AsConfigured => format!(
                        "{}:{}",
                        bus.host.as_deref().unwrap_or("127.0.0.1"),
                        bus.port.unwrap_or(502)
                    ),
                };
                let listener = TcpListener::bind(&addr).await.map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("bus {}: cannot listen on {addr}: {e}", bus.name),
                    )
                })?;
                let local = listener.local_addr()?;
                let rtu = bus.kind == BusKind::RtuOverTcp;
                servers
                    .tasks
                    .push(tokio::spawn(serve_tcp(listener, service, rtu)));
                if rtu {
                    Endpoint::RtuOverTcp(local)
                } else {
                    Endpoint::Tcp(local)
                }
            }
            BusKind::Rtu => {
                let (device, port) = SerialStream::pair()?;
                let name = port
                    .name()
                    .ok_or_else(|| io::Error::other("pseudo-terminal without a name"))?;
                let path = match (ports, &bus.device) {
                    (Ports::AsConfigured, Some(link)) => {
                        link_pty(Path::new(&name), link)?;
                        servers.links.push(link.clone());
                        link.clone()
                    }
                    _ => PathBuf::from(name),
                };
                let server = tokio_modbus::server::rtu::Server::new(device);
                servers.tasks.push(tokio::spawn(async move {
                    if let Err(e) = server.serve_forever(service).await {
                        warn!(error = %e, "simulated RTU bus stopped");
                    }
                }));
                servers._ptys.push(port);
                Endpoint::Rtu(path)
            }
        };
        info!(bus = %bus.name, ?endpoint, "simulated bus listening");
        servers.endpoints.push((bus.name.clone(), endpoint));
    }
    Ok(servers)
}

/// Makes `link` a symlink to the pseudo-terminal, replacing an old symlink but never a file.
fn link_pty(pty: &Path, link: &Path) -> io::Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(link) {
        if !meta.file_type().is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a symlink; not replacing it",
                    link.display()
                ),
            ));
        }
        std::fs::remove_file(link)?;
    }
    std::os::unix::fs::symlink(pty, link)
}

async fn serve_tcp(listener: TcpListener, service: BusService, rtu: bool) {
    if rtu {
        let server = tokio_modbus::server::rtu_over_tcp::Server::new(listener);
        let on_connected = |stream, peer| {
            let service = service.clone();
            async move {
                tokio_modbus::server::rtu_over_tcp::accept_tcp_connection(stream, peer, |_| {
                    Ok(Some(service.clone()))
                })
            }
        };
        if let Err(e) = server.serve(&on_connected, |_| {}).await {
            warn!(error = %e, "simulated RTU-over-TCP bus stopped");
        }
    } else {
        let server = tokio_modbus::server::tcp::Server::new(listener);
        let on_connected = |stream, peer| {
            let service = service.clone();
            async move {
                tokio_modbus::server::tcp::accept_tcp_connection(stream, peer, |_| {
                    Ok(Some(service.clone()))
                })
            }
        };
        if let Err(e) = server.serve(&on_connected, |_| {}).await {
            warn!(error = %e, "simulated TCP bus stopped");
        }
    }
}

/// Answers the requests of one bus from the world.
#[derive(Clone)]
struct BusService {
    world: SharedWorld,
    bus: String,
}

type Answer = Result<Option<Response>, ExceptionCode>;

impl BusService {
    fn answer(&self, req: &SlaveRequest<'static>) -> Answer {
        let mut world = lock(&self.world);
        let unit = req.slave;
        let exception = |e: crate::modbus::ModbusException| ExceptionCode::new(e.code());
        let reply = match &req.request {
            Request::ReadHoldingRegisters(a, n) => world
                .read(&self.bus, unit, RegisterKind::Holding, *a, *n)
                .map(|r| r.map(Response::ReadHoldingRegisters)),
            Request::ReadInputRegisters(a, n) => world
                .read(&self.bus, unit, RegisterKind::Input, *a, *n)
                .map(|r| r.map(Response::ReadInputRegisters)),
            Request::WriteSingleRegister(a, v) => world
                .write(&self.bus, unit, *a, &[*v])
                .map(|r| r.map(|()| Response::WriteSingleRegister(*a, *v))),
            Request::WriteMultipleRegisters(a, vs) => {
                let n = u16::try_from(vs.len()).unwrap_or(u16::MAX);
                world
                    .write(&self.bus, unit, *a, vs)
                    .map(|r| r.map(|()| Response::WriteMultipleRegisters(*a, n)))
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        match reply {
            None => Ok(None),
            Some(Ok(resp)) => Ok(Some(resp)),
            Some(Err(e)) => Err(exception(e)),
        }
    }
}

impl Service for BusService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let answer = self.answer(&req);
        Box::pin(async move { answer })
    }
}

/// Advances the world in real time, `step` at a time, until the task is dropped.
pub fn run_clock(world: SharedWorld, step: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(step);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let now = tokio::time::Instant::now();
            let dt = now.duration_since(last).as_secs_f64();
            last = now;
            lock(&world).step(dt);
        }
    })
}
