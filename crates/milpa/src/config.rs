//! The server's configuration: the same type for embedding, the command line and
//! a TOML file. Durations are seconds (fractions allowed), as in Hypercorn.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The async runtime the server runs on, as Hypercorn's `--worker-class`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WorkerClass {
    /// tokio.
    #[default]
    Tokio,
    /// async-std (deprecated upstream).
    AsyncStd,
    /// smol.
    Smol,
}

impl std::fmt::Display for WorkerClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tokio => "tokio",
            Self::AsyncStd => "async-std",
            Self::Smol => "smol",
        })
    }
}

impl std::str::FromStr for WorkerClass {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "tokio" => Ok(Self::Tokio),
            "async-std" => Ok(Self::AsyncStd),
            "smol" => Ok(Self::Smol),
            other => Err(format!("unknown worker class {other:?}: tokio, async-std or smol")),
        }
    }
}

/// How the server runs. Every field has a safe default; see [`Config::default`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Addresses to listen on (`host:port`, `[v6]:port`, `unix:/path`): `127.0.0.1:8000`.
    pub bind: Vec<String>,
    /// Listen backlog: 1024.
    pub backlog: u32,
    /// Idle keep-alive connections close after this: 5 s.
    #[serde(with = "seconds")]
    pub keep_alive_timeout: Duration,
    /// Requests served per connection before it closes: 1000 (0: unlimited).
    pub keep_alive_max_requests: u32,
    /// A request head must arrive within this (slowloris): 30 s.
    #[serde(with = "seconds")]
    pub header_read_timeout: Duration,
    /// A request body may stall this long: 60 s.
    #[serde(with = "seconds")]
    pub body_idle_timeout: Duration,
    /// In-flight requests get this long to finish on shutdown: 3 s.
    #[serde(with = "seconds")]
    pub graceful_timeout: Duration,
    /// A client that reads none of the pending response for this long is
    /// disconnected: 60 s (nginx's `send_timeout`).
    #[serde(with = "seconds")]
    pub send_timeout: Duration,
    /// Lifespan startup must complete within this: 60 s.
    #[serde(with = "seconds")]
    pub startup_timeout: Duration,
    /// Lifespan shutdown must complete within this: 60 s.
    #[serde(with = "seconds")]
    pub shutdown_timeout: Duration,
    /// Largest request head: 16 KiB (431 past it, 414 for a long target).
    pub h11_max_incomplete_size: usize,
    /// Most header fields in a request: 100 (431 past it).
    pub max_headers: usize,
    /// Events queued per request in each direction before backpressure: 10.
    pub max_app_queue_size: usize,
    /// Where the application is mounted; put in every scope's `root_path`.
    pub root_path: String,
    /// Send a `server: milpa` header unless the application sets one: true.
    pub include_server_header: bool,
    /// Access log destination: a file path, or `-` for stdout. Off when unset.
    pub access_log: Option<PathBuf>,
    /// Access log format, with Hypercorn's `%(atom)s` atoms.
    pub access_log_format: String,
    /// Worker processes (0 or 1: serve in this process).
    pub workers: usize,
    /// The async runtime: `tokio` (default), `async-std` or `smol` (`-k`).
    pub worker_class: WorkerClass,
    /// Runtime threads: 1 (a current-thread runtime; the fastest per core in
    /// the benchmark), 0 for one per core, or N.
    pub threads: usize,
    /// PEM certificate chain: with `keyfile`, every `bind` serves HTTPS.
    pub certfile: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub keyfile: Option<PathBuf>,
    /// Generate a certificate for localhost at startup (development only).
    pub self_signed: bool,
    /// PEM CA certificates that client certificates are verified against.
    pub ca_certs: Option<PathBuf>,
    /// Whether clients must present a certificate: `none`, `optional`, `required`.
    pub verify_mode: crate::tls::VerifyMode,
    /// ALPN protocols offered, in order of preference: `["h2", "http/1.1"]`.
    pub alpn_protocols: Vec<String>,
    /// Plain-text listeners beside the TLS ones.
    pub insecure_bind: Vec<String>,
    /// TLS listeners that offer HTTP/1.1 only (ALPN), beside the `bind` ones: the
    /// demo's HTTP/1.1-versus-HTTP/2 comparison.
    pub http1_bind: Vec<String>,
    /// Answer `Upgrade: h2c` on plain-text listeners (never on TLS ones): true.
    pub h2c_upgrade: bool,
    /// A TLS handshake must finish within this: 10 s.
    #[serde(with = "seconds")]
    pub tls_handshake_timeout: Duration,
    /// A WebSocket message (after decompression) larger than this closes the
    /// socket with 1009: 16 MiB.
    pub websocket_max_message_size: usize,
    /// Send a WebSocket ping this often; a peer that has not answered the previous
    /// one by then is closed (1011, as a dead peer). Off by default.
    #[serde(with = "seconds_option")]
    pub websocket_ping_interval: Option<Duration>,
    /// Offer permessage-deflate (RFC 7692) to WebSocket clients that ask: true.
    pub websocket_compression: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: vec!["127.0.0.1:8000".to_owned()],
            backlog: 1024,
            keep_alive_timeout: Duration::from_secs(5),
            keep_alive_max_requests: 1000,
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            graceful_timeout: Duration::from_secs(3),
            send_timeout: Duration::from_secs(60),
            startup_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(60),
            h11_max_incomplete_size: 16 * 1024,
            max_headers: 100,
            max_app_queue_size: 10,
            root_path: String::new(),
            include_server_header: true,
            access_log: None,
            access_log_format: crate::access_log::DEFAULT_FORMAT.to_owned(),
            workers: 1,
            worker_class: WorkerClass::default(),
            threads: 1,
            certfile: None,
            keyfile: None,
            self_signed: false,
            ca_certs: None,
            verify_mode: crate::tls::VerifyMode::None,
            alpn_protocols: vec!["h2".to_owned(), "http/1.1".to_owned()],
            insecure_bind: Vec::new(),
            http1_bind: Vec::new(),
            tls_handshake_timeout: Duration::from_secs(10),
            h2c_upgrade: true,
            websocket_max_message_size: 16 * 1024 * 1024,
            websocket_ping_interval: None,
            websocket_compression: true,
        }
    }
}

impl Config {
    /// Resolves every `bind` entry to socket addresses.
    pub fn bind_addrs(&self) -> std::io::Result<Vec<SocketAddr>> {
        resolve(&self.bind)
    }

    /// The `unix:/path` entries of `binds`.
    pub fn unix_paths(&self, binds: &[String]) -> Vec<PathBuf> {
        binds.iter().filter_map(|bind| bind.strip_prefix("unix:")).map(PathBuf::from).collect()
    }

    /// Resolves every `insecure_bind` entry to socket addresses.
    pub fn insecure_bind_addrs(&self) -> std::io::Result<Vec<SocketAddr>> {
        resolve(&self.insecure_bind)
    }

    pub(crate) fn h2(&self) -> milpa_h2::Config {
        let mut h2 = milpa_h2::Config::default();
        h2.max_requests_per_connection =
            (self.keep_alive_max_requests > 0).then_some(self.keep_alive_max_requests);
        h2.max_header_list_size = u32::try_from(self.h11_max_incomplete_size).unwrap_or(u32::MAX);
        // WebSockets over HTTP/2 (RFC 8441).
        h2.enable_connect_protocol = true;
        h2
    }

    pub(crate) fn websocket(&self) -> milpa_ws::Config {
        let mut ws = milpa_ws::Config::default();
        ws.max_message_size = self.websocket_max_message_size;
        ws.max_frame_size = self.websocket_max_message_size;
        // Every message is compressed once permessage-deflate is on, as wsproto does:
        // some clients (the kosoku Autobahn runner among them) mishandle uncompressed
        // text in a compressed session, though RFC 7692 allows it.
        ws.compress_min_size = 0;
        ws
    }

    pub(crate) fn h1(&self) -> milpa_h1::Config {
        let mut h1 = milpa_h1::Config::default();
        h1.max_head_size = self.h11_max_incomplete_size;
        h1.max_headers = self.max_headers;
        h1.keep_alive_timeout = Some(self.keep_alive_timeout);
        h1.header_read_timeout = Some(self.header_read_timeout);
        h1.body_idle_timeout = Some(self.body_idle_timeout);
        h1.max_requests_per_connection =
            (self.keep_alive_max_requests > 0).then_some(self.keep_alive_max_requests);
        h1
    }
}

/// `Duration` as a number of seconds.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}

/// An optional `Duration` as a number of seconds (absent: off).
mod seconds_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let seconds = Option::<f64>::deserialize(deserializer)?;
        seconds
            .map(|seconds| Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Resolves `host:port` strings to socket addresses.
pub(crate) fn resolve(binds: &[String]) -> std::io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    let mut addrs = Vec::new();
    for bind in binds.iter().filter(|bind| !bind.starts_with("unix:")) {
        let resolved = bind.to_socket_addrs().map_err(|error| {
            std::io::Error::new(error.kind(), format!("cannot resolve bind {bind:?}: {error}"))
        })?;
        addrs.extend(resolved);
    }
    Ok(addrs)
}
