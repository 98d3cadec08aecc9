//! The container's one HTTP client (Stripe, siteverify), built on first use and shared by
//! the adapters: a function that never calls out never loads TLS roots for it, and one
//! that does loads them once.
//!
//! Its timeouts ([`TIMEOUTS`]) are the floor under every call; each adapter sets its own,
//! shorter, per-request timeout too (Stripe 3 s an attempt, siteverify 5 s).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The client's network timeouts and connection reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect and TLS handshake.
    pub connect: Duration,
    /// Between two reads of an answer (and before its first byte): a stalled connection
    /// is dropped even where a caller set no timeout of its own.
    pub read: Duration,
    /// A pooled connection idle longer is closed rather than reused.
    pub pool_idle: Duration,
    /// TCP keep-alive probes on open connections.
    pub tcp_keepalive: Duration,
}

/// - **connect 2 s**: a TLS handshake with Stripe or Google takes well under 0.5 s from any
///   region; 2 s fails a lost SYN before Stripe's 3 s attempt ends, so the retry gets a
///   fresh connection.
/// - **read 10 s**: only a safety net; the per-request timeouts are shorter.
/// - **pool idle 30 s**: a Lambda is frozen between invocations, and a connection the
///   server closed meanwhile fails the next attempt. Below common load-balancer idle
///   limits (60 s), a warm function still reuses connections under steady traffic.
/// - **keep-alive 15 s** (reqwest's own default, kept explicit).
pub const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_secs(10),
    pool_idle: Duration::from_secs(30),
    tcp_keepalive: Duration::from_secs(15),
};

/// A client with `timeouts`.
pub fn client(timeouts: &Timeouts) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .pool_idle_timeout(timeouts.pool_idle)
        .tcp_keepalive(timeouts.tcp_keepalive)
        .build()
        // As `reqwest::Client::new()` does: only a TLS backend that cannot start fails.
        .expect("the HTTP client builds")
}

#[derive(Clone, Default)]
pub struct HttpClient(Arc<OnceLock<reqwest::Client>>);

impl HttpClient {
    pub fn get(&self) -> &reqwest::Client {
        self.0.get_or_init(|| client(&TIMEOUTS))
    }
}

impl From<reqwest::Client> for HttpClient {
    /// A client built already (tests, tools).
    fn from(client: reqwest::Client) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(client);
        Self(Arc::new(cell))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_client_carries_the_read_timeout() {
        let debug = format!("{:?}", HttpClient::default().get());
        assert!(debug.contains("read_timeout: 10s"), "{debug}");
    }

    #[test]
    fn the_timeouts_fit_a_stripe_attempt() {
        // A connect that fails must leave Stripe's 3 s attempt time to say so.
        assert!(TIMEOUTS.connect < Duration::from_secs(3));
        assert!(TIMEOUTS.pool_idle < Duration::from_secs(60));
    }

    /// A server that accepts and never answers: the read timeout ends the wait, although
    /// the request sets no timeout of its own.
    #[tokio::test]
    async fn a_silent_server_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(socket);
        });
        let short = Timeouts {
            read: Duration::from_millis(200),
            ..TIMEOUTS
        };
        let started = std::time::Instant::now();
        let err = client(&short)
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        held.abort();
    }
}
