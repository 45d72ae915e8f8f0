//! A worker process under a supervisor (see [`crate::supervisor`]): it serves the
//! listeners it inherited and talks to the supervisor over its channel.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::app::App;
use crate::config::Config;
use crate::listen;
use crate::metrics::Metrics;
use crate::server::{Hooks, ServeError};
use crate::shutdown::Latch;

/// How often a worker reports its metrics to the supervisor.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Serves as worker number `slot` until the supervisor says `stop` (or goes
/// away), a signal arrives, or `max_requests` are served.
pub(crate) fn run<A: App>(config: Config, app: A, slot: usize) -> Result<(), ServeError> {
    let codes = std::env::var(listen::WORKER_LISTENERS).unwrap_or_default();
    let listeners = listen::take_worker_listeners(&codes)?;
    let channel = listen::take_worker_channel(listeners.len())?;
    // A terminal's hangup is the supervisor's business (it reloads); a worker
    // only stops when told, by the channel or by SIGTERM/SIGINT.
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::new(AtomicBool::new(false)))?;
    let writer = Arc::new(Mutex::new(channel.try_clone()?));
    let say = {
        let writer = writer.clone();
        move |line: &str| {
            let mut writer = writer.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writer.write_all(format!("{line}\n").as_bytes());
        }
    };
    let stop = Latch::default();
    let quiet = Latch::default();
    let metrics = Metrics::wanted(&config).then(|| Arc::new(Metrics::new(&config)));
    listen_to_supervisor(channel, stop.clone(), quiet.clone(), metrics.clone(), say.clone())?;
    let retire_after = (config.max_requests > 0).then(|| {
        let jitter = fastrand::u64(0..=config.max_requests_jitter);
        config.max_requests.saturating_add(jitter)
    });
    let ready = say.clone();
    let retire = say.clone();
    let retire_stop = stop.clone();
    let retire_quiet = quiet.clone();
    let hooks = Hooks {
        on_ready: Some(Box::new(move || ready("ready"))),
        retire_after,
        on_retire: Box::new(move || {
            retire("retire");
            retire_quiet.set();
            retire_stop.set();
        }),
        metrics: metrics.clone(),
        quiet,
        announce: true,
    };
    tracing::debug!(slot, pid = std::process::id(), "worker starting");
    let served = crate::server::serve_listeners(config, listeners, app, stop, hooks);
    if let Some(metrics) = &metrics {
        say(&format!("metrics {}", metrics.snapshot()));
    }
    if let Err(error) = &served {
        say(&format!("failed {}", error.to_string().replace('\n', " ")));
    }
    served
}

/// Reads the supervisor's orders on a thread of its own: `drain` (a successor
/// serves; close connections quietly), `stop` (shut down gracefully), or the end
/// of the stream (the supervisor died: stop). Between reads it reports the
/// metrics, if any.
fn listen_to_supervisor(
    channel: UnixStream,
    stop: Latch,
    quiet: Latch,
    metrics: Option<Arc<Metrics>>,
    say: impl Fn(&str) + Send + 'static,
) -> std::io::Result<()> {
    channel.set_read_timeout(Some(REPORT_EVERY))?;
    std::thread::Builder::new().name("milpa-supervisor-channel".to_owned()).spawn(move || {
        let mut reader = BufReader::new(channel);
        let mut line = String::new();
        loop {
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) if line.ends_with('\n') => {
                    match line.trim_end() {
                        "drain" => {
                            quiet.set();
                            stop.set();
                        }
                        "stop" => stop.set(),
                        _ => {}
                    }
                    line.clear();
                }
                Ok(_) => {}
                Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
            if let Some(metrics) = &metrics {
                say(&format!("metrics {}", metrics.snapshot()));
            }
        }
        stop.set();
    })?;
    Ok(())
}
