//! The listener: its own thread and tokio runtime (so the server works the same from sync
//! and async tests and outlives no test), one task per connection, and the switch that
//! takes it off the network and back on the same port.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Pending connections the kernel may queue.
const BACKLOG: u32 = 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors) before the next one.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

enum Control {
    Down(std_mpsc::Sender<()>),
    Up(std_mpsc::Sender<io::Result<()>>),
    Stop,
}

/// A running listener; stopped (thread joined) on drop.
pub(crate) struct Listener {
    addr: SocketAddr,
    control: mpsc::UnboundedSender<Control>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Serves `router` on 127.0.0.1 at a port the kernel picks.
    pub(crate) fn start(router: Router) -> Result<Listener> {
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let (control, commands) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("dtrack-test-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(run(router, ready_tx, commands));
            })
            .context("spawning the Dependency-Track test server thread")?;
        let addr = ready_rx
            .recv()
            .context("the Dependency-Track test server thread exited")?
            .context("binding the Dependency-Track test server")?;
        Ok(Listener {
            addr,
            control,
            thread: Some(thread),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listening socket and every open connection: new connections are
    /// refused until [`Listener::up`].
    pub(crate) fn down(&self) -> Result<()> {
        let (done, wait) = std_mpsc::channel();
        self.send(Control::Down(done))?;
        wait.recv()
            .map_err(|_| anyhow!("the test server thread stopped"))
    }

    /// Listens again on the same port.
    pub(crate) fn up(&self) -> Result<()> {
        let (done, wait) = std_mpsc::channel();
        self.send(Control::Up(done))?;
        wait.recv()
            .map_err(|_| anyhow!("the test server thread stopped"))?
            .with_context(|| format!("listening again on {}", self.addr))
    }

    fn send(&self, command: Control) -> Result<()> {
        self.control
            .send(command)
            .map_err(|_| anyhow!("the test server thread stopped"))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The server thread: serves until told to stop, closing and reopening on command.
async fn run(
    router: Router,
    ready: std_mpsc::Sender<io::Result<SocketAddr>>,
    mut commands: mpsc::UnboundedReceiver<Control>,
) {
    let listener = match bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut serving = Some(Serving::start(listener, router.clone()));
    if ready.send(Ok(addr)).is_err() {
        return;
    }
    while let Some(command) = commands.recv().await {
        match command {
            Control::Down(done) => {
                if let Some(serving) = serving.take() {
                    serving.stop().await;
                }
                let _ = done.send(());
            }
            Control::Up(done) => {
                let result = match serving {
                    Some(_) => Ok(()),
                    None => bind(addr).map(|listener| {
                        serving = Some(Serving::start(listener, router.clone()));
                    }),
                };
                let _ = done.send(result);
            }
            Control::Stop => break,
        }
    }
    if let Some(serving) = serving {
        serving.stop().await;
    }
}

/// A listening socket's accept loop.
struct Serving {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Serving {
    fn start(listener: TcpListener, router: Router) -> Serving {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, router, stopped));
        Serving { stop, task }
    }

    /// Returns once the socket and all its connections are closed.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let service = TowerToHyperService::new(router.clone());
                    connections.spawn(async move {
                        // A connection error (client gone, bad request line) ends only it.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// A listener on `addr` that can be reopened at once after being closed.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
