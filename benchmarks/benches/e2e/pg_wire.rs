//! A TCP relay between the bot workers and PostgreSQL that counts round
//! trips: every `ReadyForQuery` the server sends ends one (a simple query,
//! or an extended-protocol `Sync`), and its status byte tells the
//! transactions apart: idle after in-transaction ends an explicit
//! transaction, idle after idle is a single-statement (autocommit) one.
//!
//! The workers connect with `sslmode=disable`, so the server's stream is
//! framed from its first byte (type, then a 4-byte big-endian length that
//! counts itself).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the relay has seen since it started or was reset.
#[derive(Default, Debug)]
pub struct WireCounts {
    /// `ReadyForQuery` messages: round trips that ended.
    pub round_trips: AtomicU64,
    /// Explicit transactions that ended (in-transaction, then idle).
    pub transactions: AtomicU64,
    /// Statements run outside an explicit transaction.
    pub autocommits: AtomicU64,
}

impl WireCounts {
    /// (round trips, explicit transactions, autocommit statements), and
    /// zeroes them.
    pub fn take(&self) -> (u64, u64, u64) {
        (
            self.round_trips.swap(0, Ordering::Relaxed),
            self.transactions.swap(0, Ordering::Relaxed),
            self.autocommits.swap(0, Ordering::Relaxed),
        )
    }
}

/// Starts the relay to `upstream` (`host:port`); returns its address.
pub async fn relay(upstream: String) -> (String, Arc<WireCounts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay binds");
    let addr = listener.local_addr().expect("relay address").to_string();
    let counts = Arc::new(WireCounts::default());
    let shared = counts.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, counts) = (upstream.clone(), shared.clone());
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(&upstream).await {
                    pipe(client, server, counts).await;
                }
            });
        }
    });
    (addr, counts)
}

async fn pipe(client: TcpStream, server: TcpStream, counts: Arc<WireCounts>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    };
    let down = async move {
        let mut frames = Frames::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            frames.feed(&buf[..n], &counts);
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

/// Finds message boundaries in the server's stream as it arrives.
#[derive(Default)]
struct Frames {
    /// The bytes of the current message's header seen so far.
    header: Vec<u8>,
    /// Bytes of the current message's body still to skip.
    skip: usize,
    /// Whether the current message is a `ReadyForQuery` (its status byte
    /// is the first body byte).
    ready: bool,
    in_transaction: bool,
}

impl Frames {
    fn feed(&mut self, mut bytes: &[u8], counts: &WireCounts) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                if self.ready {
                    self.ready = false;
                    let status = bytes[0];
                    counts.round_trips.fetch_add(1, Ordering::Relaxed);
                    match (self.in_transaction, status) {
                        (true, b'I') => {
                            counts.transactions.fetch_add(1, Ordering::Relaxed);
                        }
                        (false, b'I') => {
                            counts.autocommits.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                    self.in_transaction = status != b'I';
                }
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let need = 5 - self.header.len();
            let n = need.min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() == 5 {
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                self.ready = self.header[0] == b'Z';
                self.skip = len.saturating_sub(4);
                self.header.clear();
            }
        }
    }
}
