//! A TCP proxy on loopback that can cut the link it carries: every open connection is
//! dropped at once, and new ones are closed as soon as they are accepted until the link
//! is resumed. Written here because the fault is the point: a proxy crate would forward
//! faithfully and give no hook to cut mid-stream at a chosen byte.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct CuttingProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accepting: CancellationToken,
}

struct State {
    upstream: SocketAddr,
    /// Cancelled to cut every open connection; replaced by a fresh one on resume.
    links: Mutex<CancellationToken>,
    cut: AtomicBool,
    /// Bytes sent from the clients to the upstream, in all.
    forwarded: AtomicU64,
    /// When `forwarded` reaches this, the link is cut (`u64::MAX`: never).
    cut_at: AtomicU64,
    cuts: AtomicU64,
}

impl State {
    fn cut(&self) {
        if !self.cut.swap(true, Ordering::SeqCst) {
            self.cuts.fetch_add(1, Ordering::SeqCst);
        }
        self.cut_at.store(u64::MAX, Ordering::SeqCst);
        self.links.lock().unwrap().cancel();
    }
}

impl CuttingProxy {
    /// A proxy to `upstream`, listening on a free loopback port.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            upstream,
            links: Mutex::new(CancellationToken::new()),
            cut: AtomicBool::new(false),
            forwarded: AtomicU64::new(0),
            cut_at: AtomicU64::new(u64::MAX),
            cuts: AtomicU64::new(0),
        });
        let accepting = CancellationToken::new();
        tokio::spawn(accept(listener, state.clone(), accepting.clone()));
        CuttingProxy {
            addr,
            state,
            accepting,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes the clients sent through the proxy so far.
    pub fn forwarded(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Times the link was cut.
    pub fn cuts(&self) -> u64 {
        self.state.cuts.load(Ordering::SeqCst)
    }

    /// Cuts the link now.
    pub fn cut(&self) {
        self.state.cut();
    }

    /// Cuts the link in the middle of whatever the clients send once `bytes` more bytes
    /// have gone through.
    pub fn cut_after(&self, bytes: u64) {
        self.state
            .cut_at
            .store(self.forwarded() + bytes, Ordering::SeqCst);
    }

    /// Lets connections through again.
    pub fn resume(&self) {
        *self.state.links.lock().unwrap() = CancellationToken::new();
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.accepting.cancel();
        self.state.cut();
    }
}

async fn accept(listener: TcpListener, state: Arc<State>, stop: CancellationToken) {
    loop {
        let client = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(_) => continue,
            },
        };
        if state.cut.load(Ordering::SeqCst) {
            // Refused: closed as soon as it is accepted.
            drop(client);
            continue;
        }
        let link = state.links.lock().unwrap().clone();
        tokio::spawn(forward(client, state.clone(), link));
    }
}

async fn forward(client: TcpStream, state: Arc<State>, link: CancellationToken) {
    let Ok(upstream) = TcpStream::connect(state.upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let to_upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let read = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            // Up to the cut point only: the cut falls inside a message, not between two.
            let before = state.forwarded.load(Ordering::SeqCst);
            let cut_at = state.cut_at.load(Ordering::SeqCst);
            let room = cut_at.saturating_sub(before);
            let sent = (read as u64).min(room) as usize;
            if upstream_write.write_all(&buf[..sent]).await.is_err() {
                return;
            }
            state.forwarded.fetch_add(sent as u64, Ordering::SeqCst);
            if sent < read || before + sent as u64 >= cut_at {
                state.cut();
                return;
            }
        }
    };
    let to_client = async {
        let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
    };
    // Either direction ending ends the connection, as does a cut: both sockets dropped.
    tokio::select! {
        _ = link.cancelled() => {}
        _ = to_upstream => {}
        _ = to_client => {}
    }
}
