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
    /// Address to listen on, `host:port` or `[v6]:port`; repeatable.
    #[arg(short, long = "bind", value_name = "ADDRESS")]
    bind: Vec<String>,
    /// Worker processes (only 1, in-process, is supported so far).
    #[arg(short, long)]
    workers: Option<usize>,
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
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log_level: String,
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
    /// A TOML file with configuration keys; flags given here win over it.
    #[arg(short, long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
}

impl Args {
    /// Defaults, then the file, then the flags.
    fn config(&self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str::<Config>(&text)
                    .map_err(|e| format!("invalid config {}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        let seconds = |s: f64| std::time::Duration::try_from_secs_f64(s).map_err(|e| e.to_string());
        if !self.bind.is_empty() {
            config.bind = self.bind.clone();
        }
        if let Some(workers) = self.workers {
            config.workers = workers;
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
        if self.certfile.is_some() || self.keyfile.is_some() {
            config.certfile = self.certfile.clone();
            config.keyfile = self.keyfile.clone();
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

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let config = match args.config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("milpa: {message}");
            return ExitCode::from(2);
        }
    };
    if config.workers > 1 {
        tracing::warn!(
            workers = config.workers,
            "worker processes are not implemented yet; serving in-process"
        );
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
