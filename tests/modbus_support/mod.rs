//! Real Modbus peers for the bus tests: a register bank served by tokio-modbus over TCP,
//! RTU-over-TCP and a pseudo-terminal pair, and a relay that can inject garbage.
#![allow(dead_code)] // each test file uses a different part

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_serial::{SerialPort, SerialStream};

/// Holding registers per unit (addresses 0..HOLDING).
pub const HOLDING: u16 = 100;
/// Input registers per unit (addresses 0..INPUT).
pub const INPUT: u16 = 50;

/// The initial value of holding register `address` of `unit`.
pub fn holding_value(unit: u8, address: u16) -> u16 {
    u16::from(unit).wrapping_mul(1000).wrapping_add(address)
}

/// The value of input register `address` of `unit`.
pub fn input_value(unit: u8, address: u16) -> u16 {
    u16::from(unit)
        .wrapping_mul(1000)
        .wrapping_add(500 + address)
}

#[derive(Default)]
struct BankState {
    holding: HashMap<u8, Vec<u16>>,
    silent: HashSet<u8>,
    refusing: HashSet<u8>,
    delayed: HashMap<u8, Duration>,
}

/// Simulated devices: units with holding and input registers. Units not added never answer.
#[derive(Clone, Default)]
pub struct Bank {
    state: Arc<Mutex<BankState>>,
}

impl Bank {
    pub fn with_units(units: &[u8]) -> Self {
        let bank = Self::default();
        {
            let mut s = bank.state.lock().unwrap();
            for &u in units {
                s.holding
                    .insert(u, (0..HOLDING).map(|a| holding_value(u, a)).collect());
            }
        }
        bank
    }

    /// The unit stops answering (like a dead device).
    pub fn silence(&self, unit: u8) {
        self.state.lock().unwrap().silent.insert(unit);
    }

    /// The unit answers every request with an IllegalFunction exception.
    pub fn refuse_all(&self, unit: u8) {
        self.state.lock().unwrap().refusing.insert(unit);
    }

    /// The unit answers, but only after `delay` (a slow device).
    pub fn delay(&self, unit: u8, delay: Duration) {
        self.state.lock().unwrap().delayed.insert(unit, delay);
    }

    pub fn holding(&self, unit: u8, address: u16) -> u16 {
        self.state.lock().unwrap().holding[&unit][usize::from(address)]
    }

    fn answer(&self, req: &SlaveRequest<'static>) -> Result<Option<Response>, ExceptionCode> {
        let mut s = self.state.lock().unwrap();
        if s.silent.contains(&req.slave) {
            return Ok(None);
        }
        if s.refusing.contains(&req.slave) {
            return Err(ExceptionCode::IllegalFunction);
        }
        let Some(regs) = s.holding.get_mut(&req.slave) else {
            return Ok(None);
        };
        let range = |addr: u16, n: usize, len: u16| {
            let end = usize::from(addr) + n;
            if n == 0 || end > usize::from(len) {
                Err(ExceptionCode::IllegalDataAddress)
            } else {
                Ok(usize::from(addr)..end)
            }
        };
        let unit = req.slave;
        let resp = match &req.request {
            Request::ReadHoldingRegisters(a, n) => {
                let r = range(*a, usize::from(*n), HOLDING)?;
                Response::ReadHoldingRegisters(regs[r].to_vec())
            }
            Request::ReadInputRegisters(a, n) => {
                let r = range(*a, usize::from(*n), INPUT)?;
                Response::ReadInputRegisters(r.map(|i| input_value(unit, i as u16)).collect())
            }
            Request::WriteSingleRegister(a, v) => {
                let r = range(*a, 1, HOLDING)?;
                regs[r.start] = *v;
                Response::WriteSingleRegister(*a, *v)
            }
            Request::WriteMultipleRegisters(a, vs) => {
                let r = range(*a, vs.len(), HOLDING)?;
                regs[r].copy_from_slice(vs);
                Response::WriteMultipleRegisters(*a, vs.len() as u16)
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        Ok(Some(resp))
    }
}

type Answer = Result<Option<Response>, ExceptionCode>;

impl Service for Bank {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let delay = self.state.lock().unwrap().delayed.get(&req.slave).copied();
        let answer = self.answer(&req);
        Box::pin(async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            answer
        })
    }
}

/// A Modbus TCP server on `addr` (use port 0 for a free one). Dropping/aborting the task stops
/// the server and closes its connections.
pub async fn tcp_server(bank: Bank, addr: SocketAddr) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind(addr).await.unwrap();
    let local = listener.local_addr().unwrap();
    let server = tokio_modbus::server::tcp::Server::new(listener);
    let task = tokio::spawn(async move {
        let on_connected = |stream, peer| {
            let bank = bank.clone();
            async move {
                tokio_modbus::server::tcp::accept_tcp_connection(stream, peer, |_| {
                    Ok(Some(bank.clone()))
                })
            }
        };
        let _ = server.serve(&on_connected, |_err| {}).await;
    });
    (local, task)
}

/// A server speaking RTU framing over TCP on a free port.
pub async fn rtu_over_tcp_server(bank: Bank) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let server = tokio_modbus::server::rtu_over_tcp::Server::new(listener);
    let task = tokio::spawn(async move {
        let on_connected = |stream, peer| {
            let bank = bank.clone();
            async move {
                tokio_modbus::server::rtu_over_tcp::accept_tcp_connection(stream, peer, |_| {
                    Ok(Some(bank.clone()))
                })
            }
        };
        let _ = server.serve(&on_connected, |_err| {}).await;
    });
    (local, task)
}

/// A pseudo-terminal pair: the bus opens `path`; `device` is the other end, where a test
/// device listens; `port` is the pair's own handle on `path`, kept so the terminal stays up while
/// the bus opens and reopens it (it can also serve as the device end of a second pair).
pub struct Pty {
    pub path: String,
    pub device: SerialStream,
    pub port: SerialStream,
}

pub fn pty() -> Pty {
    let (device, port) = SerialStream::pair().expect("pseudo-terminal pair");
    let path = port.name().expect("pty path");
    Pty { path, device, port }
}

/// A Modbus RTU server on one end of a pty pair. Returns the path for the bus and the handle
/// that keeps the terminal up.
pub fn rtu_pty_server(bank: Bank) -> (String, SerialStream, JoinHandle<()>) {
    let Pty { path, device, port } = pty();
    let task = tokio::spawn(async move {
        let server = tokio_modbus::server::rtu::Server::new(device);
        let _ = server.serve_forever(bank).await;
    });
    (path, port, task)
}

/// A Modbus RTU server behind a relay on a pty: the bus opens the returned path; the relay can
/// replace replies with garbage. Returns the path, the injector and the handles to keep.
pub fn relayed_rtu_pty_server(bank: Bank) -> (String, Injector, Vec<SerialStream>) {
    let bus_side = pty();
    let server_side = pty();
    let injector = Injector::default();
    tokio::spawn(async move {
        let server = tokio_modbus::server::rtu::Server::new(server_side.port);
        let _ = server.serve_forever(bank).await;
    });
    tokio::spawn(relay(bus_side.device, server_side.device, injector.clone()));
    (bus_side.path, injector, vec![bus_side.port])
}

/// What the relay does with the next request.
#[derive(Clone, Debug)]
pub enum Inject {
    /// Swallow a request of this many bytes and answer with these bytes instead.
    Reply { request_len: usize, bytes: Vec<u8> },
}

/// Sits between the bus and a real server; passes bytes through unless told to inject.
#[derive(Clone, Default)]
pub struct Injector {
    next: Arc<Mutex<Option<Inject>>>,
}

impl Injector {
    pub fn reply_next(&self, request_len: usize, bytes: Vec<u8>) {
        *self.next.lock().unwrap() = Some(Inject::Reply { request_len, bytes });
    }
}

/// Relays bytes between `client` (the bus side) and `server` until either side closes.
pub async fn relay<C, S>(mut client: C, mut server: S, injector: Injector)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut cbuf = [0u8; 512];
    let mut sbuf = [0u8; 512];
    loop {
        tokio::select! {
            n = client.read(&mut cbuf) => {
                let Ok(n) = n else { return };
                if n == 0 { return; }
                let inject = injector.next.lock().unwrap().take();
                match inject {
                    None => { if server.write_all(&cbuf[..n]).await.is_err() { return; } }
                    Some(Inject::Reply { request_len, bytes }) => {
                        let mut got = n;
                        while got < request_len {
                            match client.read(&mut cbuf).await { Ok(0) | Err(_) => return, Ok(m) => got += m }
                        }
                        if client.write_all(&bytes).await.is_err() { return; }
                    }
                }
            }
            n = server.read(&mut sbuf) => {
                let Ok(n) = n else { return };
                if n == 0 { return; }
                if client.write_all(&sbuf[..n]).await.is_err() { return; }
            }
        }
    }
}

/// A TCP proxy in front of `upstream`, one upstream connection per client connection.
#[derive(Clone, Default)]
pub struct Proxy {
    relays: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Closes every open connection (like a gateway hanging up idle clients) and returns once
    /// they are closed.
    pub async fn hang_up(&self) {
        let relays: Vec<_> = self.relays.lock().unwrap().drain(..).collect();
        for r in relays {
            r.abort();
            let _ = r.await;
        }
    }
}

pub async fn tcp_proxy(upstream: SocketAddr, injector: Injector) -> (SocketAddr, Proxy) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let proxy = Proxy::default();
    let relays = Arc::clone(&proxy.relays);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let task = tokio::spawn(relay(client, server, injector.clone()));
            relays.lock().unwrap().push(task);
        }
    });
    (local, proxy)
}

/// Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF), appended low byte first.
pub fn with_crc(frame: &[u8]) -> Vec<u8> {
    let mut crc: u16 = 0xFFFF;
    for &b in frame {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    let mut out = frame.to_vec();
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Runs a future with a generous bound so a hang fails the test instead of blocking it.
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("test step took more than 10 s")
}
