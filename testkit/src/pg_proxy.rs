//! A TCP relay in front of the real Postgres that can break connections at
//! the moments a test needs: right after the server answered a `COMMIT`
//! (the client never learns that it committed), or by refusing new
//! connections for a while. Everything else passes through unchanged.
//!
//! It reads just enough of the wire protocol (v3, no TLS: use [`PgProxy::url`])
//! to spot the simple-query `COMMIT` that sqlx sends to end a transaction.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Faults {
    /// Armed: the next COMMIT reaches the server, its answer does not reach
    /// the client, and that client connection is closed.
    cut_after_commit: AtomicBool,
    /// With the cut: afterwards every connection closes and new ones are
    /// refused, so the client cannot ask what became of its commit.
    down_after_cut: AtomicBool,
    /// New connections are closed at once.
    refuse: AtomicBool,
    /// Closes every open connection.
    kill: Notify,
    commits_cut: AtomicUsize,
}

/// A running relay; stops accepting when dropped.
#[derive(Debug)]
pub struct PgProxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl PgProxy {
    /// Listens on a free local port and relays to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> PgProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind the Postgres proxy: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy address: {e}"));
        let faults = Arc::new(Faults::default());
        let upstream = upstream.to_owned();
        let accept = tokio::spawn({
            let faults = faults.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if faults.refuse.load(Ordering::SeqCst) {
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        continue;
                    };
                    tokio::spawn(relay(client, server, faults.clone()));
                }
            }
        });
        PgProxy {
            addr,
            faults,
            accept,
        }
    }

    /// `url` (a `postgres://` URL of the real server) pointed at the proxy.
    pub fn url(&self, url: &str) -> String {
        let start = url.find("://").map(|i| i + 3).unwrap_or(0);
        let end = url[start..]
            .find('/')
            .map(|i| start + i)
            .unwrap_or(url.len());
        let host_start = url[start..end]
            .rfind('@')
            .map(|i| start + i + 1)
            .unwrap_or(start);
        let sep = if url.contains('?') { '&' } else { '?' };
        format!(
            "{}{}{}{sep}sslmode=disable",
            &url[..host_start],
            self.addr,
            &url[end..]
        )
    }

    /// Arms the cut: the next `COMMIT` takes effect on the server, but its
    /// client's connection closes before the answer arrives.
    pub fn cut_after_next_commit(&self) {
        self.faults.cut_after_commit.store(true, Ordering::SeqCst);
    }

    /// As [`cut_after_next_commit`](Self::cut_after_next_commit), and then
    /// Postgres looks down: every connection closes and new ones are
    /// refused until [`refuse_connections(false)`](Self::refuse_connections).
    pub fn cut_after_next_commit_and_go_down(&self) {
        self.faults.down_after_cut.store(true, Ordering::SeqCst);
        self.faults.cut_after_commit.store(true, Ordering::SeqCst);
    }

    /// While true, new connections are closed as soon as they arrive.
    pub fn refuse_connections(&self, refuse: bool) {
        self.faults.refuse.store(refuse, Ordering::SeqCst);
    }

    /// How many commits had their answer cut so far.
    pub fn commits_cut(&self) -> usize {
        self.faults.commits_cut.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, server: TcpStream, faults: Arc<Faults>) {
    let (client_rx, client_tx) = client.into_split();
    let (server_rx, server_tx) = server.into_split();
    let swallow = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(Notify::new());
    let down = tokio::spawn(server_to_client(
        server_rx,
        client_tx,
        swallow.clone(),
        answered.clone(),
    ));
    let cut = tokio::select! {
        cut = client_to_server(client_rx, server_tx, &faults, &swallow, &answered) => cut,
        () = faults.kill.notified() => false,
    };
    if cut {
        faults.commits_cut.fetch_add(1, Ordering::SeqCst);
        if faults.down_after_cut.swap(false, Ordering::SeqCst) {
            faults.refuse.store(true, Ordering::SeqCst);
            faults.kill.notify_waiters();
        }
    }
    // Dropping the halves closes both connections.
    down.abort();
}

/// Relays messages until either side closes; true when it cut a commit.
async fn client_to_server(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    faults: &Faults,
    swallow: &AtomicBool,
    answered: &Notify,
) -> bool {
    // The startup message has no type byte: a length, then the body.
    let mut len = [0u8; 4];
    if from.read_exact(&mut len).await.is_err() {
        return false;
    }
    let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
    if from.read_exact(&mut body).await.is_err()
        || to.write_all(&len).await.is_err()
        || to.write_all(&body).await.is_err()
    {
        return false;
    }
    loop {
        let mut head = [0u8; 5];
        if from.read_exact(&mut head).await.is_err() {
            return false;
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        if from.read_exact(&mut body).await.is_err() {
            return false;
        }
        let is_commit = head[0] == b'Q' && body.to_ascii_uppercase().starts_with(b"COMMIT");
        let cut = is_commit && faults.cut_after_commit.swap(false, Ordering::SeqCst);
        let notified = answered.notified();
        if cut {
            swallow.store(true, Ordering::SeqCst);
        }
        if to.write_all(&head).await.is_err() || to.write_all(&body).await.is_err() {
            return false;
        }
        if cut {
            // The server answers only once the commit is done.
            notified.await;
            return true;
        }
    }
}

async fn server_to_client(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    swallow: Arc<AtomicBool>,
    answered: Arc<Notify>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if swallow.load(Ordering::SeqCst) {
            answered.notify_one();
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
