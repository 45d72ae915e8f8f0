//! The server's configuration: the same type for embedding, the command line and
//! a TOML file. Durations are seconds (fractions allowed), as in Hypercorn.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The async runtime the server runs on, as Hypercorn's `--worker-class`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Addresses to listen on (`host:port`, `[v6]:port`, `unix:/path`, `fd://N`):
    /// `127.0.0.1:8000`. A single string is one address.
    #[serde(deserialize_with = "one_or_many")]
    pub bind: Vec<String>,
    /// Listen backlog: 1024.
    pub backlog: u32,
    /// Idle keep-alive connections close after this: 5 s.
    #[serde(with = "seconds")]
    pub keep_alive_timeout: Duration,
    /// Requests served per connection before it closes: 1000 (0: unlimited).
    pub keep_alive_max_requests: u32,
    /// A request head must arrive within this (slowloris): 30 s; 0 turns it off.
    /// Over HTTP/2, a header block must be finished within it (the connection
    /// closes past it; with 0, within 30 s: nothing else can be read meanwhile).
    #[serde(with = "seconds")]
    pub header_read_timeout: Duration,
    /// A request body may stall this long while the application waits for it:
    /// 60 s; 0 turns it off.
    /// Past it: `408 Request Timeout` (HTTP/1.1 then closes the connection; HTTP/2
    /// ends the stream, or resets it with CANCEL once the response has begun).
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
    /// Access log format, with Hypercorn's `%(atom)s` atoms: `h` client
    /// address and port, `l`/`u` `-`, `t` time, `r` request line without the
    /// query string, `R` with it, `m` method, `U` path, `Uq` path and query,
    /// `q` query, `H` protocol, `s` status, `st` its phrase, `S` scheme, `b`/`B`
    /// body bytes (`b`: `-` for none), `f` referer, `a` user agent, `T`/`D`/`L`
    /// duration in seconds/microseconds/decimal seconds, `p` process id,
    /// `{name}i`/`{name}o` request/response header, `{NAME}e` environment
    /// variable. Unknown atoms print `-`.
    pub access_log_format: String,
    /// Worker processes: 0 serves in this process; N starts a supervisor that
    /// binds the listeners once and runs N workers sharing them.
    pub workers: usize,
    /// A worker is replaced gracefully after this many requests (plus up to
    /// `max_requests_jitter`), bounding slow leaks in an application: off (0).
    pub max_requests: u64,
    /// Randomises `max_requests` per worker so workers do not recycle together: 0.
    pub max_requests_jitter: u64,
    /// Requests handled at once, above which new ones get `503 Service
    /// Unavailable` (uvicorn's `--limit-concurrency`): unlimited.
    pub limit_concurrency: Option<usize>,
    /// Open connections per process, above which accepting pauses (new clients
    /// wait in the listen backlog): unlimited.
    pub max_connections: Option<usize>,
    /// Host names served (the `Host` or `:authority`, without port); a request
    /// for another gets `421 Misdirected Request`. Empty: any host.
    pub server_names: Vec<String>,
    /// Write the server's process id to this file (removed on exit).
    pub pid_file: Option<PathBuf>,
    /// Permission bits masked off Unix-domain socket files: in TOML an integer
    /// (`0o007`) or a string read as octal (`"007"`); `MILPA_UMASK` is always
    /// octal (`007`, `77`), as on the command line. Printed back as `"0o007"`.
    #[serde(with = "octal_option")]
    pub umask: Option<u32>,
    /// Owner (name or uid) given to Unix-domain socket files.
    pub user: Option<String>,
    /// Group (name or gid) given to Unix-domain socket files.
    pub group: Option<String>,
    /// Send StatsD metrics (Hypercorn's names) to this `host:port` over UDP.
    pub statsd_host: Option<String>,
    /// Prefix of every StatsD metric name: empty.
    pub statsd_prefix: String,
    /// Serve Prometheus metrics at `/metrics` on this separate address (with
    /// workers, the supervisor serves the sum over all of them).
    pub metrics_bind: Option<String>,
    /// Log level of the `milpa` command's error log: `info` (the library leaves
    /// logging to the embedding program's `tracing` subscriber).
    pub log_level: String,
    /// Where the `milpa` command writes its error log: stderr when unset, `-` for stdout.
    pub error_log: Option<PathBuf>,
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
    #[serde(deserialize_with = "one_or_many")]
    pub insecure_bind: Vec<String>,
    /// TLS listeners that offer HTTP/1.1 only (ALPN), beside the `bind` ones: the
    /// demo's HTTP/1.1-versus-HTTP/2 comparison.
    #[serde(deserialize_with = "one_or_many")]
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
            workers: 0,
            max_requests: 0,
            max_requests_jitter: 0,
            limit_concurrency: None,
            max_connections: None,
            server_names: Vec::new(),
            pid_file: None,
            umask: None,
            user: None,
            group: None,
            statsd_host: None,
            statsd_prefix: String::new(),
            metrics_bind: None,
            log_level: "info".to_owned(),
            error_log: None,
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

/// A timeout of zero means none.
fn off_when_zero(timeout: Duration) -> Option<Duration> {
    (!timeout.is_zero()).then_some(timeout)
}

/// The longest duration a setting takes: longer ones mean this (a century), so
/// "forever" written as a huge number never overflows a timer.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Config {
    /// A duration setting from its number of seconds, as the file, the
    /// environment and the command line give it: an error for a negative or
    /// non-finite number; anything past a century is a century.
    pub fn seconds(seconds: f64) -> Result<Duration, String> {
        if seconds.is_nan() || seconds < 0.0 {
            return Err(format!("{seconds} is not a number of seconds"));
        }
        Ok(Duration::try_from_secs_f64(seconds).unwrap_or(LONGEST).min(LONGEST))
    }

    /// The configuration from its sources, later ones winning: the defaults, the
    /// TOML file at `path` (if any), then `MILPA_<KEY>` environment variables
    /// (`MILPA_KEEP_ALIVE_TIMEOUT=10`, `MILPA_BIND='["a", "b"]'`; a value that is
    /// not TOML is taken as a string). An unknown key, in the file or the
    /// environment, is an error that names it.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, String> {
        Self::load_from(path, std::env::vars_os())
    }

    pub(crate) fn load_from(
        path: Option<&std::path::Path>,
        vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Self, String> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                // Parsed whole first, so that an error says where it is.
                toml::from_str::<Config>(&text)
                    .map_err(|e| format!("invalid config {}: {e}", path.display()))?;
                toml::from_str::<toml::Table>(&text)
                    .map_err(|e| format!("invalid config {}: {e}", path.display()))?
            }
            None => toml::Table::new(),
        };
        for (name, value) in vars {
            let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else { continue };
            let Some(key) = name.strip_prefix("MILPA_") else { continue };
            if INTERNAL_VARIABLES.contains(&name) {
                continue;
            }
            let key = key.to_ascii_lowercase();
            table.insert(key.clone(), env_value(&key, value).map_err(|e| format!("{name}: {e}"))?);
        }
        table.try_into().map_err(|e| format!("invalid config: {e}"))
    }

    /// The configuration as TOML (`milpa --print-config`): every key with a value;
    /// unset options are left out, TOML having no null.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|error| format!("# cannot print the config: {error}\n"))
    }
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
        if let Some(timeout) = off_when_zero(self.header_read_timeout) {
            h2.header_block_timeout = timeout;
        }
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
        h1.header_read_timeout = off_when_zero(self.header_read_timeout);
        h1.body_idle_timeout = off_when_zero(self.body_idle_timeout);
        h1.max_requests_per_connection =
            (self.keep_alive_max_requests > 0).then_some(self.keep_alive_max_requests);
        h1
    }
}

/// `Duration` as a number of seconds.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        super::Config::seconds(f64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Optional permission bits: an integer as it is, or a string read as octal
/// (`"007"`, `"0o007"`), the way `umask` is written on a command line.
mod octal_option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bits: &Option<u32>, serializer: S) -> Result<S::Ok, S::Error> {
        match bits {
            Some(bits) => serializer.serialize_some(&format!("0o{bits:03o}")),
            None => serializer.serialize_none(),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Bits {
        Number(u32),
        Text(String),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
        let bits = match Option::<Bits>::deserialize(deserializer)? {
            None => return Ok(None),
            Some(Bits::Number(bits)) => bits,
            Some(Bits::Text(text)) => {
                let digits = text.strip_prefix("0o").unwrap_or(&text);
                u32::from_str_radix(digits, 8)
                    .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an octal number")))?
            }
        };
        if bits > 0o777 {
            return Err(serde::de::Error::custom(format!("{bits:#o} is more than permission bits (0o777)")));
        }
        Ok(Some(bits))
    }
}

/// An optional `Duration` as a number of seconds (absent: off).
mod seconds_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => serializer.serialize_some(&duration.as_secs_f64()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let seconds = Option::<f64>::deserialize(deserializer)?;
        seconds.map(|seconds| super::Config::seconds(seconds).map_err(serde::de::Error::custom)).transpose()
    }
}

/// Variables milpa sets for its own worker processes.
const INTERNAL_VARIABLES: [&str; 2] = ["MILPA_WORKER", "MILPA_WORKER_LISTENERS"];

/// An environment variable's value for `key`: TOML if it reads as TOML of a type
/// `key` accepts, else the text as a string.
fn env_value(key: &str, text: &str) -> Result<toml::Value, String> {
    let accepts = |value: &toml::Value| {
        toml::Table::from_iter([(key.to_owned(), value.clone())])
            .try_into::<Config>()
            .map_err(|e| e.to_string())
    };
    // Permission bits are octal text, as on the command line: `MILPA_UMASK=77`
    // means 0o077, not the decimal 77 TOML would make of it.
    let parsed = (key != "umask")
        .then(|| toml::from_str::<toml::Table>(&format!("value = {text}")).ok())
        .flatten()
        .and_then(|mut t| t.remove("value"));
    if let Some(value) = parsed
        && accepts(&value).is_ok()
    {
        return Ok(value);
    }
    let string = toml::Value::String(text.to_owned());
    accepts(&string).map(|_| string).map_err(|error| error.trim().to_owned())
}

/// A list of strings, or one string as a list of one (`bind = "127.0.0.1:8000"`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Resolves `host:port` strings to socket addresses.
pub(crate) fn resolve(binds: &[String]) -> std::io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    let mut addrs = Vec::new();
    for bind in binds.iter().filter(|bind| !bind.starts_with("unix:") && !bind.starts_with("fd://")) {
        let resolved = bind.to_socket_addrs().map_err(|error| {
            std::io::Error::new(error.kind(), format!("cannot resolve bind {bind:?}: {error}"))
        })?;
        addrs.extend(resolved);
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect::<Vec<_>>().into_iter()
    }

    fn file(text: &str) -> std::path::PathBuf {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("milpa-config-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn environment_wins_over_the_file_and_the_file_over_defaults() {
        let path = file("bind = \"127.0.0.1:9000\"\nworkers = 3\nkeep_alive_timeout = 7.5\n");
        let env = vars(&[("MILPA_WORKERS", "4"), ("MILPA_SERVER_NAMES", "[\"a.example\"]"), ("HOME", "/x")]);
        let config = Config::load_from(Some(&path), env).expect("loads");
        assert_eq!(config.bind, ["127.0.0.1:9000"]);
        assert_eq!(config.workers, 4);
        assert_eq!(config.keep_alive_timeout, Duration::from_secs_f64(7.5));
        assert_eq!(config.server_names, ["a.example"]);
        // A string field given something that reads as a number stays a string.
        let config = Config::load_from(None, vars(&[("MILPA_STATSD_PREFIX", "7"), ("MILPA_UMASK", "0o077")]))
            .expect("loads");
        assert_eq!(config.statsd_prefix, "7");
        assert_eq!(config.umask, Some(0o077));
        let config = Config::load_from(None, vars(&[("MILPA_KEEP_ALIVE_TIMEOUT", "1e19")])).expect("loads");
        assert_eq!(config.keep_alive_timeout, LONGEST, "\"forever\" is a century, not an overflow");
        assert!(Config::load_from(None, vars(&[("MILPA_KEEP_ALIVE_TIMEOUT", "-1")])).is_err());
        let config = Config::load_from(None, vars(&[("MILPA_UMASK", "007")])).expect("loads");
        assert_eq!(config.umask, Some(0o007), "a string is octal, as on the command line");
        let config = Config::load_from(None, vars(&[("MILPA_UMASK", "77")])).expect("loads");
        assert_eq!(config.umask, Some(0o077), "not decimal 77");
        let printed = toml::to_string(&config).expect("prints");
        assert!(printed.contains("umask = \"0o077\""), "{printed}");
        let back: Config = toml::from_str(&printed).expect("reads back");
        assert_eq!(back.umask, Some(0o077));
    }

    #[test]
    fn unknown_keys_are_named() {
        let error = Config::load_from(None, vars(&[("MILPA_KEEPALIVE", "3")])).expect_err("unknown");
        assert!(error.contains("MILPA_KEEPALIVE") && error.contains("keepalive"), "{error}");
        let path = file("workers = 2\nbogus_key = 1\n");
        let error = Config::load_from(Some(&path), vars(&[])).expect_err("unknown");
        assert!(error.contains("bogus_key"), "{error}");
        let error = Config::load_from(None, vars(&[("MILPA_WORKERS", "many")])).expect_err("type");
        assert!(error.contains("MILPA_WORKERS"), "{error}");
    }

    #[test]
    fn printed_config_reads_back_the_same() {
        let config = Config {
            workers: 2,
            server_names: vec!["example.com".to_owned()],
            limit_concurrency: Some(10),
            websocket_ping_interval: Some(Duration::from_millis(2500)),
            ..Config::default()
        };
        let path = file(&config.to_toml());
        assert_eq!(Config::load_from(Some(&path), vars(&[])).expect("reads back"), config);
    }
}
