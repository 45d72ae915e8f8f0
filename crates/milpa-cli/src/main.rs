//! The `milpa` command: serve an application from the command line, Hypercorn style.

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use milpa::Config;

const EXAMPLES: &str = "\
Examples:
  milpa                                   serve the built-in demo on 127.0.0.1:8000
  milpa --bind 0.0.0.0:8080 --bind [::]:8080
  milpa --access-logfile - --keep-alive 10
  milpa --self-signed --bind 127.0.0.1:8443 --insecure-bind 127.0.0.1:8000
  milpa --self-signed --bind 127.0.0.1:8443 --http1-bind 127.0.0.1:8444
                                          the demo page compares HTTP/2 and HTTP/1.1
  milpa static ./public                   serve a directory
  milpa -k smol --threads 2               the smol runtime with two threads
  milpa -w 4 --bind 0.0.0.0:8000 --pid /run/milpa.pid
                                          four worker processes; kill -HUP $(cat /run/milpa.pid)
                                          replaces them one by one, no request lost
  milpa --metrics-bind 127.0.0.1:9100 --statsd-host 127.0.0.1:8125
                                          Prometheus at /metrics, StatsD over UDP
  MILPA_KEEP_ALIVE_TIMEOUT=10 milpa --print-config
                                          the effective configuration as TOML
  milpa --config milpa.toml               every option from a TOML file (flags win)";

/// An HTTP server in the spirit of Hypercorn.
#[derive(Debug, Parser)]
#[command(name = "milpa", version, about, after_help = EXAMPLES)]
struct Args {
    /// The application to serve: the built-in `demo`, or `static` to serve DIR.
    #[arg(default_value = "demo", value_parser = ["demo", "static"])]
    app: String,
    /// With `static`: the directory to serve (files with ETag, Last-Modified,
    /// conditional and range requests; nothing outside it).
    #[arg(value_name = "DIR", required_if_eq("app", "static"))]
    dir: Option<PathBuf>,
    /// Address to listen on: `host:port`, `[v6]:port`, `unix:PATH` or `fd://N`
    /// (a socket passed by systemd socket activation); repeatable.
    #[arg(short, long = "bind", value_name = "ADDRESS")]
    bind: Vec<String>,
    /// Worker processes: 0 serves in this process (the default); N starts a
    /// supervisor with N workers (SIGHUP replaces them one by one).
    #[arg(short, long, value_name = "N")]
    workers: Option<usize>,
    /// Replace a worker gracefully after this many requests (0: never).
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// Add up to this many requests, at random, to each worker's --max-requests.
    #[arg(long, value_name = "N")]
    max_requests_jitter: Option<u64>,
    /// Requests handled at once, past which new ones get 503.
    #[arg(long, value_name = "N")]
    limit_concurrency: Option<usize>,
    /// Open connections per process, past which accepting pauses.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// A host name served (others get 421); repeatable.
    #[arg(long = "server-name", value_name = "HOST")]
    server_names: Vec<String>,
    /// The listen backlog.
    #[arg(long, value_name = "N")]
    backlog: Option<u32>,
    /// Write the process id to FILE.
    #[arg(long = "pid", value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Permission bits masked off Unix socket files, in octal (e.g. 007).
    #[arg(long, value_name = "OCTAL", value_parser = parse_octal)]
    umask: Option<u32>,
    /// Owner (name or uid) of Unix socket files.
    #[arg(long)]
    user: Option<String>,
    /// Group (name or gid) of Unix socket files.
    #[arg(long)]
    group: Option<String>,
    /// Send StatsD metrics to HOST:PORT (UDP).
    #[arg(long, value_name = "HOST:PORT")]
    statsd_host: Option<String>,
    /// Prefix for StatsD metric names.
    #[arg(long, value_name = "PREFIX")]
    statsd_prefix: Option<String>,
    /// Serve Prometheus metrics at http://ADDRESS/metrics.
    #[arg(long, value_name = "ADDRESS")]
    metrics_bind: Option<String>,
    /// Print the effective configuration (defaults, file, MILPA_* environment,
    /// flags) as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// The async runtime: tokio, async-std or smol.
    #[arg(short = 'k', long, value_name = "CLASS")]
    worker_class: Option<milpa::WorkerClass>,
    /// Runtime threads: 1 (current-thread, the default), 0 for one per core, or N.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long = "keep-alive", value_name = "SECONDS")]
    keep_alive: Option<f64>,
    /// Requests per connection before it closes (0: unlimited).
    #[arg(long, value_name = "N")]
    keep_alive_max_requests: Option<u32>,
    /// Seconds in-flight requests get to finish on shutdown.
    #[arg(long, value_name = "SECONDS")]
    graceful_timeout: Option<f64>,
    /// Seconds between WebSocket pings; a peer that misses one is closed (off by default).
    #[arg(long, value_name = "SECONDS")]
    websocket_ping_interval: Option<f64>,
    /// Largest WebSocket message in bytes, after decompression (1009 past it).
    #[arg(long, value_name = "BYTES")]
    websocket_max_message_size: Option<usize>,
    /// Where to write the access log: a file, or `-` for stdout.
    #[arg(long, value_name = "FILE")]
    access_logfile: Option<PathBuf>,
    /// The access log format, with Hypercorn's %(atom)s atoms.
    #[arg(long, value_name = "FORMAT")]
    access_logformat: Option<String>,
    /// Log level: error, warn, info (the default), debug or trace.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Where to write the error log: a file, or `-` for stdout (default: stderr).
    #[arg(long, value_name = "FILE")]
    error_logfile: Option<PathBuf>,
    /// The mount point of the application, given to it as `root_path`.
    #[arg(long)]
    root_path: Option<String>,
    /// PEM certificate chain: every --bind then serves HTTPS.
    #[arg(long, value_name = "FILE")]
    certfile: Option<PathBuf>,
    /// PEM private key for --certfile.
    #[arg(long, value_name = "FILE")]
    keyfile: Option<PathBuf>,
    /// Serve HTTPS with a certificate for localhost generated at startup (development only).
    #[arg(long)]
    self_signed: bool,
    /// PEM CA certificates to verify client certificates against.
    #[arg(long, value_name = "FILE")]
    ca_certs: Option<PathBuf>,
    /// Client certificates: none, optional or required.
    #[arg(long, value_name = "MODE")]
    verify_mode: Option<String>,
    /// A plain-text address beside the TLS ones; repeatable.
    #[arg(long, value_name = "ADDRESS")]
    insecure_bind: Vec<String>,
    /// A TLS address offering HTTP/1.1 only (ALPN); with --bind, the demo page
    /// compares the two protocols side by side. Repeatable.
    #[arg(long, value_name = "ADDRESS")]
    http1_bind: Vec<String>,
    /// A TOML file with configuration keys; MILPA_<KEY> environment variables
    /// win over it, and flags over both.
    #[arg(short, long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
}

impl Args {
    /// Defaults, then the file, then the environment, then the flags.
    fn config(&self) -> Result<Config, String> {
        let mut config = Config::load(self.config.as_deref())?;
        let seconds = Config::seconds;
        if !self.bind.is_empty() {
            config.bind = self.bind.clone();
        }
        set(&mut config.workers, self.workers);
        set(&mut config.max_requests, self.max_requests);
        set(&mut config.max_requests_jitter, self.max_requests_jitter);
        set(&mut config.backlog, self.backlog);
        set(&mut config.statsd_prefix, self.statsd_prefix.clone());
        set(&mut config.log_level, self.log_level.clone());
        for (field, flag) in [
            (&mut config.limit_concurrency, self.limit_concurrency),
            (&mut config.max_connections, self.max_connections),
        ] {
            if flag.is_some() {
                *field = flag;
            }
        }
        for (field, flag) in
            [(&mut config.pid_file, &self.pid_file), (&mut config.error_log, &self.error_logfile)]
        {
            if flag.is_some() {
                field.clone_from(flag);
            }
        }
        for (field, flag) in [
            (&mut config.user, &self.user),
            (&mut config.group, &self.group),
            (&mut config.statsd_host, &self.statsd_host),
            (&mut config.metrics_bind, &self.metrics_bind),
        ] {
            if flag.is_some() {
                field.clone_from(flag);
            }
        }
        if self.umask.is_some() {
            config.umask = self.umask;
        }
        if !self.server_names.is_empty() {
            config.server_names = self.server_names.clone();
        }
        if let Some(class) = self.worker_class {
            config.worker_class = class;
        }
        if let Some(threads) = self.threads {
            config.threads = threads;
        }
        if let Some(keep_alive) = self.keep_alive {
            config.keep_alive_timeout = seconds(keep_alive)?;
        }
        if let Some(max) = self.keep_alive_max_requests {
            config.keep_alive_max_requests = max;
        }
        if let Some(graceful) = self.graceful_timeout {
            config.graceful_timeout = seconds(graceful)?;
        }
        if let Some(interval) = self.websocket_ping_interval {
            config.websocket_ping_interval = Some(seconds(interval)?);
        }
        if let Some(size) = self.websocket_max_message_size {
            config.websocket_max_message_size = size;
        }
        if let Some(path) = &self.access_logfile {
            config.access_log = Some(path.clone());
        }
        if let Some(format) = &self.access_logformat {
            config.access_log_format = format.clone();
        }
        if let Some(root_path) = &self.root_path {
            config.root_path = root_path.clone();
        }
        // Key by key, like every other flag: `--keyfile` alone keeps the file's certfile.
        if let Some(certfile) = &self.certfile {
            config.certfile = Some(certfile.clone());
        }
        if let Some(keyfile) = &self.keyfile {
            config.keyfile = Some(keyfile.clone());
        }
        config.self_signed |= self.self_signed;
        if let Some(ca_certs) = &self.ca_certs {
            config.ca_certs = Some(ca_certs.clone());
        }
        if let Some(mode) = &self.verify_mode {
            config.verify_mode = toml::Value::String(mode.clone())
                .try_into()
                .map_err(|_| format!("--verify-mode must be none, optional or required, not {mode:?}"))?;
        }
        if !self.insecure_bind.is_empty() {
            config.insecure_bind = self.insecure_bind.clone();
        }
        if !self.http1_bind.is_empty() {
            config.http1_bind = self.http1_bind.clone();
        }
        Ok(config)
    }
}

/// Sets `field` when the flag was given.
fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *field = value;
    }
}

/// `007`, `0o007` or `0007`: octal permission bits.
fn parse_octal(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    u32::from_str_radix(digits, 8).map_err(|_| format!("{text:?} is not an octal number"))
}

/// With TLS listeners of both kinds, the origins the demo page compares: the
/// first `bind` (HTTP/2 by ALPN) and the first `http1_bind` (HTTP/1.1 only).
fn comparison_targets(config: &Config) -> Vec<(String, String)> {
    let tls = config.certfile.is_some() || config.self_signed;
    let origin = |bind: &String| format!("https://{}", bind.replace("0.0.0.0", "127.0.0.1"));
    let h2 = config.bind.iter().find(|bind| !bind.starts_with("unix:"));
    match (tls, h2, config.http1_bind.first()) {
        (true, Some(h2), Some(h1)) => vec![
            ("HTTP/2 (TLS, ALPN h2)".to_owned(), origin(h2)),
            ("HTTP/1.1 (TLS, ALPN http/1.1 only)".to_owned(), origin(h1)),
        ],
        _ => Vec::new(),
    }
}

/// The error log: `log_level` to stderr, stdout (`-`) or a file.
fn init_logging(config: &Config) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .map_err(|error| format!("bad log level {:?}: {error}", config.log_level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.error_log.as_deref() {
        None => builder.with_writer(std::io::stderr).init(),
        Some(path) if path.as_os_str() == "-" => builder.with_writer(std::io::stdout).init(),
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
            builder.with_ansi(false).with_writer(std::sync::Mutex::new(file)).init();
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match args.config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("milpa: {message}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    if let Err(message) = init_logging(&config) {
        eprintln!("milpa: {message}");
        return ExitCode::from(2);
    }
    let served = match (args.app.as_str(), &args.dir) {
        ("static", Some(dir)) => match milpa::StaticFiles::new(dir) {
            Ok(files) => milpa::run(config, files),
            Err(error) => {
                eprintln!("milpa: cannot serve {}: {error}", dir.display());
                return ExitCode::from(2);
            }
        },
        _ => {
            let app = demo::app(&comparison_targets(&config));
            milpa::run(config, app)
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("milpa: {error}");
            ExitCode::FAILURE
        }
    }
}
