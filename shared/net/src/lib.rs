//! The container's one HTTP client (Stripe, siteverify), built on first use and shared by
//! the adapters: a function that never calls out never loads TLS roots for it, and one
//! that does loads them once.

use std::sync::{Arc, OnceLock};

#[derive(Clone, Default)]
pub struct HttpClient(Arc<OnceLock<reqwest::Client>>);

impl HttpClient {
    pub fn get(&self) -> &reqwest::Client {
        self.0.get_or_init(reqwest::Client::new)
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
