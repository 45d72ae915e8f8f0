//! The supervisor: with `workers = N`, the process that binds the listeners once
//! and runs N worker processes that share them.
//!
//! Workers inherit the listening sockets rather than each binding its own with
//! `SO_REUSEPORT`: the sockets then outlive any worker, so a worker that dies,
//! recycles or is replaced on SIGHUP leaves the connections waiting in the accept
//! queue to the others (with `SO_REUSEPORT` the kernel drops those queued on a
//! closing socket), Unix-domain and `fd://` listeners work the same way, and
//! only the supervisor needs the right to bind.
//!
//! A worker is this same program started again (`current_exe`, the same
//! arguments and environment) with `MILPA_WORKER` set: [`crate::run`] then
//! serves the inherited listeners instead of binding. Each worker has a
//! Unix-domain stream to the supervisor on which it says `ready` (lifespan
//! startup done), `retire` (served its `max_requests`), `failed <why>` or
//! `metrics <snapshot>`, and hears `stop` (finish in-flight work and exit); the
//! stream's end tells either side the other is gone.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};

use crate::config::Config;
use crate::listen::{self, Listener, Security};
use crate::metrics::Aggregate;
use crate::server::ServeError;

/// The environment variable that makes `run` a worker; its value is the slot.
pub(crate) const WORKER_ENV: &str = "MILPA_WORKER";

/// The longest wait before respawning a worker that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A worker that lived this long resets its slot's backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// What the supervisor's loop reacts to.
enum Event {
    Signal(i32),
    Line(u64, String),
    Gone(u64),
}

/// One worker process.
/// How often a respawn waiting for a reload's successor to be ready looks again.
const RESPAWN_RECHECK: Duration = Duration::from_millis(100);

struct Worker {
    slot: usize,
    child: Child,
    channel: UnixStream,
    started: Instant,
    ready: bool,
    /// Told to stop, or retiring by itself: its exit is expected.
    leaving: bool,
}

/// Why the supervisor stops before serving.
fn failed(message: String) -> ServeError {
    ServeError::Io(std::io::Error::other(message))
}

/// Binds the listeners, runs `config.workers` workers until SIGTERM or SIGINT,
/// replaces them one by one on SIGHUP, and respawns any that die.
pub(crate) fn run(config: Config, listeners: Vec<(Listener, Security)>) -> Result<(), ServeError> {
    let socket_files = socket_files(&listeners);
    for (listener, security) in &listeners {
        tracing::info!("listening on {}", describe(listener, *security, &config));
    }
    let (events, inbox) = mpsc::channel();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
        signal_hook::consts::SIGHUP,
    ])?;
    let signal_events = events.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal_events.send(Event::Signal(signal)).is_err() {
                return;
            }
        }
    });
    let aggregate = Aggregate::supervised();
    let metrics = match &config.metrics_bind {
        Some(bind) => Some(crate::metrics::serve_aggregate(&config, bind, aggregate.clone())?),
        None => None,
    };
    let mut supervisor = Supervisor {
        config,
        listeners,
        events,
        workers: HashMap::new(),
        next_id: 0,
        backoff: HashMap::new(),
        respawns: Vec::new(),
        reload: Vec::new(),
        aggregate,
    };
    let result = supervisor.supervise(&inbox);
    supervisor.stop_all(&inbox);
    drop(metrics);
    for (path, identity) in socket_files {
        // Only our own: a server started since may have replaced the file (a
        // blue/green handover) and still be serving on it.
        if file_identity(&path) == Some(identity) {
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

/// The files of the Unix-domain listeners, with what identifies each file.
fn socket_files(listeners: &[(Listener, Security)]) -> Vec<(std::path::PathBuf, (u64, u64))> {
    let path = |listener: &Listener| match listener {
        Listener::Unix(unix) => unix.local_addr().ok()?.as_pathname().map(std::path::Path::to_path_buf),
        _ => None,
    };
    listeners
        .iter()
        .filter_map(|(listener, _)| path(listener))
        .filter_map(|path| Some((path.clone(), file_identity(&path)?)))
        .collect()
}

/// A file's device and inode numbers.
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|metadata| (metadata.dev(), metadata.ino()))
}

struct Supervisor {
    config: Config,
    listeners: Vec<(Listener, Security)>,
    events: mpsc::Sender<Event>,
    workers: HashMap<u64, Worker>,
    next_id: u64,
    /// Consecutive early deaths per slot.
    backoff: HashMap<usize, u32>,
    /// Slots to respawn, and when.
    respawns: Vec<(Instant, usize)>,
    /// SIGHUP: the workers still to replace; the first is being replaced.
    reload: Vec<u64>,
    aggregate: Aggregate,
}

impl Supervisor {
    /// Boots the workers, then serves until a stop signal. An error is a worker
    /// that could not start.
    fn supervise(&mut self, inbox: &mpsc::Receiver<Event>) -> Result<(), ServeError> {
        for slot in 0..self.config.workers {
            self.spawn(slot)?;
        }
        let boot_deadline = Instant::now() + self.boot_timeout();
        while self.workers.values().any(|worker| !worker.ready) {
            let wait = boot_deadline.saturating_duration_since(Instant::now());
            match inbox.recv_timeout(wait) {
                Ok(Event::Signal(signal)) if signal != signal_hook::consts::SIGHUP => return Ok(()),
                Ok(Event::Signal(_)) => {}
                Ok(Event::Line(id, line)) => {
                    if let Some(why) = line.strip_prefix("failed ") {
                        return Err(failed(format!("worker failed to start: {why}")));
                    }
                    self.handle_line(id, &line);
                }
                Ok(Event::Gone(id)) => {
                    let status = self.reap(id);
                    return Err(failed(format!("worker exited during startup ({status})")));
                }
                Err(_) => return Err(failed("workers did not start in time".to_owned())),
            }
        }
        let pids: Vec<u32> = self.workers.values().map(|worker| worker.child.id()).collect();
        tracing::info!(?pids, "{} workers serving", pids.len());
        loop {
            let now = Instant::now();
            let due: Vec<usize> =
                self.respawns.iter().filter(|(at, _)| *at <= now).map(|(_, slot)| *slot).collect();
            self.respawns.retain(|(at, _)| *at > now);
            for slot in due {
                // A reload's successor may be taking the slot (its predecessor
                // retired or died while it started): one worker per slot. Until
                // it is ready the respawn waits, in case it fails to start.
                let staying = self.workers.values().filter(|worker| worker.slot == slot && !worker.leaving);
                match staying.map(|worker| worker.ready).reduce(|a, b| a || b) {
                    None => {
                        self.spawn(slot)?;
                    }
                    Some(false) => self.respawns.push((now + RESPAWN_RECHECK, slot)),
                    Some(true) => {}
                }
            }
            let wait = self
                .respawns
                .iter()
                .map(|(at, _)| at.saturating_duration_since(now))
                .min()
                .unwrap_or(Duration::from_secs(3600));
            match inbox.recv_timeout(wait) {
                Ok(Event::Signal(signal)) if signal == signal_hook::consts::SIGHUP => self.start_reload()?,
                Ok(Event::Signal(_)) => return Ok(()),
                Ok(Event::Line(id, line)) => {
                    if let Some(why) = line.strip_prefix("failed ") {
                        self.start_failed(id, why)?;
                    } else {
                        self.handle_line(id, &line);
                        self.advance_reload()?;
                    }
                }
                Ok(Event::Gone(id)) => self.gone(id)?,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }

    /// A worker gets its lifespan startup plus time to exec and load.
    fn boot_timeout(&self) -> Duration {
        self.config.startup_timeout + Duration::from_secs(10)
    }

    fn handle_line(&mut self, id: u64, line: &str) {
        let Some(worker) = self.workers.get_mut(&id) else { return };
        if line == "ready" {
            worker.ready = true;
            self.backoff.remove(&worker.slot);
        } else if line == "retire" {
            // It drains by itself; a fresh worker takes its slot now.
            worker.leaving = true;
            let slot = worker.slot;
            tracing::info!(pid = worker.child.id(), "worker served its max requests; replacing it");
            self.respawns.push((Instant::now(), slot));
        } else if let Some(snapshot) = line.strip_prefix("metrics ") {
            self.aggregate.update(id, snapshot);
        }
    }

    /// A worker reported a failed startup after the first boot: a successor started
    /// by SIGHUP is given up (the running workers stay); any other stops the server
    /// rather than respawning into the same failure.
    fn start_failed(&mut self, id: u64, why: &str) -> Result<(), ServeError> {
        if self.reload.first() == Some(&id) {
            tracing::error!("new worker failed to start: {why}; keeping the running workers");
            if let Some(worker) = self.workers.get_mut(&id) {
                worker.leaving = true;
            }
            self.reload.clear();
            return Ok(());
        }
        Err(failed(format!("worker failed to start: {why}")))
    }

    /// SIGHUP: replace every running worker, one at a time, each only once its
    /// successor is ready; the sockets stay open throughout.
    fn start_reload(&mut self) -> Result<(), ServeError> {
        if !self.reload.is_empty() {
            tracing::info!("SIGHUP: a reload is already running");
            return Ok(());
        }
        tracing::info!("SIGHUP: replacing the workers one by one");
        let mut old: Vec<u64> =
            self.workers.iter().filter(|(_, worker)| !worker.leaving).map(|(id, _)| *id).collect();
        old.sort_unstable();
        self.reload = old;
        self.reload_next()
    }

    /// Starts the successor of the first worker in the reload queue.
    fn reload_next(&mut self) -> Result<(), ServeError> {
        while let Some(&old) = self.reload.first() {
            match self.workers.get(&old) {
                Some(worker) if !worker.leaving => {
                    let slot = worker.slot;
                    let new = self.spawn(slot)?;
                    // The successor's id replaces the old one at the head, with the old behind it.
                    self.reload.insert(0, new);
                    return Ok(());
                }
                _ => {
                    self.reload.remove(0);
                }
            }
        }
        Ok(())
    }

    /// When the successor at the head of the reload is ready, stops the worker it
    /// replaces and moves on.
    fn advance_reload(&mut self) -> Result<(), ServeError> {
        let [new, old, ..] = self.reload[..] else { return Ok(()) };
        if !self.workers.get(&new).is_some_and(|worker| worker.ready) {
            return Ok(());
        }
        self.stop(old, "drain");
        self.reload.drain(..2);
        self.reload_next()
    }

    fn gone(&mut self, id: u64) -> Result<(), ServeError> {
        let Some(worker) = self.workers.get(&id) else { return Ok(()) };
        let (slot, leaving, ready, lived) =
            (worker.slot, worker.leaving, worker.ready, worker.started.elapsed());
        let status = self.reap(id);
        self.aggregate.retire(id);
        if self.reload.first() == Some(&id) {
            tracing::error!("new worker exited during startup ({status}); keeping the running workers");
            self.reload.clear();
            return Ok(());
        }
        if leaving {
            tracing::debug!(slot, "worker exited ({status})");
            return Ok(());
        }
        if !ready {
            return Err(failed(format!("worker exited during startup ({status})")));
        }
        let failures = self.backoff.entry(slot).or_insert(0);
        if lived >= STABLE_AFTER {
            *failures = 0;
        }
        let delay = Duration::from_millis(100).saturating_mul(1 << (*failures).min(10)).min(MAX_BACKOFF);
        *failures += 1;
        tracing::warn!(slot, "worker died ({status}); respawning in {delay:?}");
        self.respawns.push((Instant::now() + delay, slot));
        Ok(())
    }

    /// Waits for worker `id`'s exit and describes it.
    fn reap(&mut self, id: u64) -> String {
        let Some(mut worker) = self.workers.remove(&id) else { return "unknown".to_owned() };
        match worker.child.wait() {
            Ok(status) => status.to_string(),
            Err(error) => error.to_string(),
        }
    }

    /// Starts a worker for `slot`, returning its id.
    fn spawn(&mut self, slot: usize) -> Result<u64, ServeError> {
        let id = self.next_id;
        self.next_id += 1;
        let (ours, theirs) = UnixStream::pair()?;
        let mut mappings = Vec::with_capacity(self.listeners.len() + 1);
        for (index, (listener, _)) in self.listeners.iter().enumerate() {
            mappings.push(FdMapping {
                parent_fd: listener.as_fd().try_clone_to_owned()?,
                child_fd: 3 + index as i32,
            });
        }
        let channel_fd = 3 + self.listeners.len() as i32;
        mappings.push(FdMapping { parent_fd: theirs.into(), child_fd: channel_fd });
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(std::env::args_os().skip(1))
            .env(WORKER_ENV, slot.to_string())
            .envs(listen::child_environment(&self.listeners, 1))
            .env_remove("LISTEN_PID")
            .fd_mappings(mappings)
            .map_err(|error| failed(error.to_string()))?;
        let child = command.spawn().map_err(|error| failed(format!("cannot start a worker: {error}")))?;
        drop(command);
        tracing::debug!(slot, pid = child.id(), "worker started");
        let reader = ours.try_clone()?;
        let events = self.events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                if events.send(Event::Line(id, line)).is_err() {
                    return;
                }
            }
            let _ = events.send(Event::Gone(id));
        });
        self.workers.insert(
            id,
            Worker { slot, child, channel: ours, started: Instant::now(), ready: false, leaving: false },
        );
        Ok(id)
    }

    /// Asks worker `id` to finish its in-flight work and exit: `stop` to shut
    /// down, `drain` to leave quietly for a successor.
    fn stop(&mut self, id: u64, order: &str) {
        if let Some(worker) = self.workers.get_mut(&id) {
            worker.leaving = true;
            let _ = worker.channel.write_all(format!("{order}\n").as_bytes());
        }
    }

    /// Stops every worker and waits for them (SIGKILL past the graceful and
    /// lifespan shutdown timeouts).
    fn stop_all(&mut self, inbox: &mpsc::Receiver<Event>) {
        let ids: Vec<u64> = self.workers.keys().copied().collect();
        for id in ids {
            self.stop(id, "stop");
        }
        let deadline = Instant::now()
            + self.config.graceful_timeout
            + self.config.shutdown_timeout
            + Duration::from_secs(2);
        while !self.workers.is_empty() {
            let wait = deadline.saturating_duration_since(Instant::now());
            match inbox.recv_timeout(wait) {
                Ok(Event::Gone(id)) => {
                    self.reap(id);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        for (_, mut worker) in self.workers.drain() {
            tracing::warn!(pid = worker.child.id(), "worker did not stop in time; killing it");
            let _ = worker.child.kill();
            let _ = worker.child.wait();
        }
    }
}

/// `https://127.0.0.1:8443`, `http at unix:/run/milpa.sock`…
pub(crate) fn describe(listener: &Listener, security: Security, config: &Config) -> String {
    let tls = security != Security::Insecure && (config.certfile.is_some() || config.self_signed);
    let scheme = if tls { "https" } else { "http" };
    match listener {
        Listener::Tcp(tcp) => match tcp.local_addr() {
            Ok(addr) => format!("{scheme}://{addr}"),
            Err(_) => scheme.to_owned(),
        },
        Listener::Unix(unix) => {
            match unix.local_addr().ok().and_then(|a| a.as_pathname().map(|p| p.display().to_string())) {
                Some(path) => format!("{scheme} at unix:{path}"),
                None => format!("{scheme} at an unnamed unix socket"),
            }
        }
    }
}
