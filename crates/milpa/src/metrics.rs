//! Metrics: counters the drivers update, StatsD datagrams per request (Hypercorn's
//! metric names under `milpa.`), and a Prometheus text endpoint on its own
//! listener (`metrics_bind`). With workers, each worker reports a snapshot to the
//! supervisor every second and the supervisor serves the sum.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use crate::app::{App, AppFuture, HeaderList, Scope, SendEvent};
use crate::config::Config;
use crate::exchange::{Receiver, Sender};

/// Upper bounds of the request duration histogram, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// What a connection speaks, for the connection gauges.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Protocol {
    Http1 = 0,
    Http2 = 1,
}

const PROTOCOLS: [&str; 2] = ["http1", "h2"];

/// One process's counters.
#[derive(Debug)]
pub(crate) struct Metrics {
    requests: AtomicU64,
    /// Responses by status, 100–599.
    statuses: Box<[AtomicU64]>,
    /// Requests per duration bucket (not cumulative), and one past the last bound.
    durations: [AtomicU64; BUCKETS.len() + 1],
    duration_micros: AtomicU64,
    connections_open: [AtomicI64; 2],
    connections: [AtomicU64; 2],
    streams_open: AtomicI64,
    websockets_open: AtomicI64,
    received: AtomicU64,
    sent: AtomicU64,
    statsd: Option<Statsd>,
}

impl Metrics {
    /// Whether `config` asks for metrics (StatsD or Prometheus).
    pub(crate) fn wanted(config: &Config) -> bool {
        config.statsd_host.is_some() || config.metrics_bind.is_some()
    }

    pub(crate) fn new(config: &Config) -> Self {
        let statsd =
            config.statsd_host.as_deref().and_then(|host| match Statsd::new(host, &config.statsd_prefix) {
                Ok(statsd) => Some(statsd),
                Err(error) => {
                    tracing::error!(%error, host, "StatsD disabled");
                    None
                }
            });
        Self {
            requests: AtomicU64::new(0),
            statuses: (100..600).map(|_| AtomicU64::new(0)).collect(),
            durations: Default::default(),
            duration_micros: AtomicU64::new(0),
            connections_open: Default::default(),
            connections: Default::default(),
            streams_open: AtomicI64::new(0),
            websockets_open: AtomicI64::new(0),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            statsd,
        }
    }

    /// A request ended with `status` (none when the client left before it) after `duration`.
    pub(crate) fn request_done(&self, status: Option<StatusCode>, duration: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(status) = status
            && let Some(count) = self.statuses.get(usize::from(status.as_u16()).wrapping_sub(100))
        {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = duration.as_secs_f64();
        let bucket = BUCKETS.iter().position(|bound| seconds <= *bound).unwrap_or(BUCKETS.len());
        self.durations[bucket].fetch_add(1, Ordering::Relaxed);
        self.duration_micros
            .fetch_add(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        if let Some(statsd) = &self.statsd {
            statsd.request(status, duration);
        }
    }

    /// Counts a connection open until the guard is dropped.
    pub(crate) fn connection(self: &Arc<Self>, protocol: Protocol) -> Open {
        self.connections[protocol as usize].fetch_add(1, Ordering::Relaxed);
        Open::new(self.clone(), Gauge::Connections(protocol))
    }

    /// Counts an HTTP/2 stream open until the guard is dropped.
    pub(crate) fn stream(self: &Arc<Self>) -> Open {
        Open::new(self.clone(), Gauge::Streams)
    }

    /// Counts a WebSocket session open until the guard is dropped.
    pub(crate) fn websocket(self: &Arc<Self>) -> Open {
        Open::new(self.clone(), Gauge::WebSockets)
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.received.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn gauge(&self, gauge: Gauge) -> &AtomicI64 {
        match gauge {
            Gauge::Connections(protocol) => &self.connections_open[protocol as usize],
            Gauge::Streams => &self.streams_open,
            Gauge::WebSockets => &self.websockets_open,
        }
    }

    /// The current values, as a line for the supervisor.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let load = |value: &AtomicU64| value.load(Ordering::Relaxed);
        let gauge = |value: &AtomicI64| value.load(Ordering::Relaxed).max(0).unsigned_abs();
        Snapshot {
            requests: load(&self.requests),
            statuses: (100u16..)
                .zip(self.statuses.iter())
                .filter_map(|(code, count)| Some((code, load(count))).filter(|(_, n)| *n > 0))
                .collect(),
            durations: self.durations.iter().map(load).collect(),
            duration_micros: load(&self.duration_micros),
            connections: self.connections.iter().map(load).collect(),
            connections_open: self.connections_open.iter().map(gauge).collect(),
            streams_open: gauge(&self.streams_open),
            websockets_open: gauge(&self.websockets_open),
            received: load(&self.received),
            sent: load(&self.sent),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Gauge {
    Connections(Protocol),
    Streams,
    WebSockets,
}

/// Holds a gauge up by one while alive.
#[derive(Debug)]
pub(crate) struct Open {
    metrics: Arc<Metrics>,
    gauge: Gauge,
}

impl Open {
    fn new(metrics: Arc<Metrics>, gauge: Gauge) -> Self {
        metrics.gauge(gauge).fetch_add(1, Ordering::Relaxed);
        Self { metrics, gauge }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.metrics.gauge(self.gauge).fetch_sub(1, Ordering::Relaxed);
    }
}

/// A UDP socket connected to the StatsD server.
#[derive(Debug)]
struct Statsd {
    socket: UdpSocket,
    prefix: String,
}

impl Statsd {
    fn new(host: &str, prefix: &str) -> std::io::Result<Self> {
        let target = std::net::ToSocketAddrs::to_socket_addrs(host)?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))?;
        let local: std::net::SocketAddr =
            if target.is_ipv6() { "[::]:0".parse() } else { "0.0.0.0:0".parse() }
                .map_err(std::io::Error::other)?;
        let socket = UdpSocket::bind(local)?;
        socket.connect(target)?;
        socket.set_nonblocking(true)?;
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('.') {
            prefix.push('.');
        }
        Ok(Self { socket, prefix })
    }

    /// Hypercorn's three metrics for a request, in one datagram.
    fn request(&self, status: Option<StatusCode>, duration: Duration) {
        let prefix = &self.prefix;
        let mut datagram = format!(
            "{prefix}milpa.request.duration:{:.3}|ms\n{prefix}milpa.requests:1|c|@1.0",
            duration.as_secs_f64() * 1000.0
        );
        if let Some(status) = status {
            let _ = write!(datagram, "\n{prefix}milpa.request.status.{}:1|c|@1.0", status.as_u16());
        }
        // StatsD is best effort: a full buffer or an absent server loses the datagram.
        let _ = self.socket.send(datagram.as_bytes());
    }
}

/// One process's values at a moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    requests: u64,
    statuses: BTreeMap<u16, u64>,
    durations: Vec<u64>,
    duration_micros: u64,
    connections: Vec<u64>,
    connections_open: Vec<u64>,
    streams_open: u64,
    websockets_open: u64,
    received: u64,
    sent: u64,
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |values: &[u64]| values.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let statuses: Vec<String> = self.statuses.iter().map(|(code, n)| format!("{code}:{n}")).collect();
        write!(
            f,
            "requests={} statuses={} durations={} micros={} connections={} open={} streams={} websockets={} received={} sent={}",
            self.requests,
            statuses.join(","),
            list(&self.durations),
            self.duration_micros,
            list(&self.connections),
            list(&self.connections_open),
            self.streams_open,
            self.websockets_open,
            self.received,
            self.sent
        )
    }
}

impl Snapshot {
    /// Reads a worker's line; `None` if it is not one.
    fn parse(line: &str) -> Option<Self> {
        let mut snapshot = Self::default();
        let list = |value: &str| -> Option<Vec<u64>> {
            value.split(',').filter(|item| !item.is_empty()).map(|item| item.parse().ok()).collect()
        };
        for field in line.split(' ') {
            let (key, value) = field.split_once('=')?;
            match key {
                "requests" => snapshot.requests = value.parse().ok()?,
                "statuses" => {
                    for pair in value.split(',').filter(|pair| !pair.is_empty()) {
                        let (code, count) = pair.split_once(':')?;
                        snapshot.statuses.insert(code.parse().ok()?, count.parse().ok()?);
                    }
                }
                "durations" => snapshot.durations = list(value)?,
                "micros" => snapshot.duration_micros = value.parse().ok()?,
                "connections" => snapshot.connections = list(value)?,
                "open" => snapshot.connections_open = list(value)?,
                "streams" => snapshot.streams_open = value.parse().ok()?,
                "websockets" => snapshot.websockets_open = value.parse().ok()?,
                "received" => snapshot.received = value.parse().ok()?,
                "sent" => snapshot.sent = value.parse().ok()?,
                _ => {}
            }
        }
        Some(snapshot)
    }

    /// Adds `other`'s counters, and its gauges when `gauges`.
    fn add(&mut self, other: &Self, gauges: bool) {
        let add_lists = |ours: &mut Vec<u64>, theirs: &[u64]| {
            if ours.len() < theirs.len() {
                ours.resize(theirs.len(), 0);
            }
            ours.iter_mut().zip(theirs).for_each(|(a, b)| *a += b);
        };
        self.requests += other.requests;
        for (code, count) in &other.statuses {
            *self.statuses.entry(*code).or_insert(0) += count;
        }
        add_lists(&mut self.durations, &other.durations);
        self.duration_micros += other.duration_micros;
        add_lists(&mut self.connections, &other.connections);
        self.received += other.received;
        self.sent += other.sent;
        if gauges {
            add_lists(&mut self.connections_open, &other.connections_open);
            self.streams_open += other.streams_open;
            self.websockets_open += other.websockets_open;
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    fn render(&self, workers: Option<usize>) -> String {
        let mut body = String::with_capacity(4096);
        let mut section = |name: &str, kind: &str, help: &str, samples: Vec<String>| {
            let _ = writeln!(body, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for sample in samples {
                let _ = writeln!(body, "{sample}");
            }
        };
        section(
            "milpa_requests_total",
            "counter",
            "Requests served.",
            vec![format!("milpa_requests_total {}", self.requests)],
        );
        section(
            "milpa_responses_total",
            "counter",
            "Responses by status code.",
            self.statuses
                .iter()
                .map(|(code, n)| format!("milpa_responses_total{{code=\"{code}\"}} {n}"))
                .collect(),
        );
        let mut cumulative = 0;
        let mut buckets: Vec<String> = BUCKETS
            .iter()
            .zip(self.durations.iter().chain(std::iter::repeat(&0)))
            .map(|(bound, n)| {
                cumulative += n;
                format!("milpa_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}")
            })
            .collect();
        let count: u64 = self.durations.iter().sum();
        buckets.push(format!("milpa_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"));
        buckets.push(format!("milpa_request_duration_seconds_sum {}", self.duration_micros as f64 / 1e6));
        buckets.push(format!("milpa_request_duration_seconds_count {count}"));
        section(
            "milpa_request_duration_seconds",
            "histogram",
            "Time from request head to response end.",
            buckets,
        );
        let by_protocol = |name: &str, values: &[u64]| -> Vec<String> {
            PROTOCOLS
                .iter()
                .enumerate()
                .map(|(i, protocol)| {
                    format!("{name}{{protocol=\"{protocol}\"}} {}", values.get(i).copied().unwrap_or(0))
                })
                .collect()
        };
        section(
            "milpa_connections_total",
            "counter",
            "Connections accepted, by protocol.",
            by_protocol("milpa_connections_total", &self.connections),
        );
        section(
            "milpa_open_connections",
            "gauge",
            "Connections open now, by protocol.",
            by_protocol("milpa_open_connections", &self.connections_open),
        );
        section(
            "milpa_open_streams",
            "gauge",
            "HTTP/2 streams open now.",
            vec![format!("milpa_open_streams {}", self.streams_open)],
        );
        section(
            "milpa_open_websockets",
            "gauge",
            "WebSocket sessions open now.",
            vec![format!("milpa_open_websockets {}", self.websockets_open)],
        );
        section(
            "milpa_received_bytes_total",
            "counter",
            "Bytes read from clients (on the wire, TLS included).",
            vec![format!("milpa_received_bytes_total {}", self.received)],
        );
        section(
            "milpa_sent_bytes_total",
            "counter",
            "Bytes written to clients (on the wire, TLS included).",
            vec![format!("milpa_sent_bytes_total {}", self.sent)],
        );
        if let Some(workers) = workers {
            section(
                "milpa_workers",
                "gauge",
                "Worker processes running.",
                vec![format!("milpa_workers {workers}")],
            );
        }
        body
    }
}

/// What the metrics endpoint sums: this process's counters, the workers' latest
/// snapshots, and the counters of workers that have exited.
#[derive(Debug, Clone, Default)]
pub(crate) struct Aggregate {
    inner: Arc<Mutex<AggregateInner>>,
}

#[derive(Debug, Default)]
struct AggregateInner {
    local: Option<Arc<Metrics>>,
    workers: HashMap<u64, Snapshot>,
    retired: Snapshot,
    supervised: bool,
}

impl Aggregate {
    /// The endpoint of a single process.
    pub(crate) fn local(metrics: Arc<Metrics>) -> Self {
        let aggregate = Self::default();
        aggregate.lock().local = Some(metrics);
        aggregate
    }

    /// The endpoint of a supervisor.
    pub(crate) fn supervised() -> Self {
        let aggregate = Self::default();
        aggregate.lock().supervised = true;
        aggregate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AggregateInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Worker `id` reported `line`.
    pub(crate) fn update(&self, id: u64, line: &str) {
        if let Some(snapshot) = Snapshot::parse(line) {
            self.lock().workers.insert(id, snapshot);
        }
    }

    /// Worker `id` exited: its counters stay in the sums, its gauges leave them.
    pub(crate) fn retire(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(last) = inner.workers.remove(&id) {
            inner.retired.add(&last, false);
        }
    }

    fn render(&self) -> String {
        let inner = self.lock();
        let mut sum = inner.retired.clone();
        if let Some(local) = &inner.local {
            sum.add(&local.snapshot(), true);
        }
        for snapshot in inner.workers.values() {
            sum.add(snapshot, true);
        }
        sum.render(inner.supervised.then_some(inner.workers.len()))
    }
}

/// The Prometheus endpoint: `GET /metrics`.
struct Endpoint(Aggregate);

impl App for Endpoint {
    fn call(&self, scope: Scope, _receive: Receiver, mut send: Sender) -> AppFuture {
        let found = matches!(&scope, Scope::Http(http) if http.path == "/metrics");
        let body = if found { self.0.render() } else { "not found; try /metrics\n".to_owned() };
        let is_http = matches!(scope, Scope::Http(_));
        Box::pin(async move {
            if !is_http {
                return Ok(());
            }
            let status = if found { StatusCode::OK } else { StatusCode::NOT_FOUND };
            let content_type: &'static [u8] =
                if found { b"text/plain; version=0.0.4; charset=utf-8" } else { b"text/plain" };
            let headers: HeaderList =
                vec![(Bytes::from_static(b"content-type"), Bytes::from_static(content_type))];
            send.send(SendEvent::ResponseStart { status, headers, trailers: false }).await?;
            Ok(send.body(Bytes::from(body), false).await?)
        })
    }
}

/// Serves `aggregate` at `bind` on a thread of its own until the handle is dropped.
pub(crate) fn serve_aggregate(
    config: &Config,
    bind: &str,
    aggregate: Aggregate,
) -> std::io::Result<MetricsServer> {
    let metrics_config = Config {
        bind: Vec::new(),
        insecure_bind: vec![bind.to_owned()],
        worker_class: config.worker_class,
        include_server_header: config.include_server_header,
        ..Config::default()
    };
    let listeners = crate::listen::open_all(&metrics_config)?;
    for (listener, security) in &listeners {
        tracing::info!(
            "metrics at {}/metrics",
            crate::supervisor::describe(listener, *security, &metrics_config)
        );
    }
    let stop = crate::shutdown::Latch::default();
    let stopped = stop.clone();
    let thread = std::thread::Builder::new().name("milpa-metrics".to_owned()).spawn(move || {
        let hooks = crate::server::Hooks { announce: false, ..crate::server::Hooks::default() };
        let endpoint = Endpoint(aggregate);
        if let Err(error) =
            crate::server::serve_listeners(metrics_config, listeners, endpoint, stopped, hooks)
        {
            tracing::error!(%error, "the metrics endpoint stopped");
        }
    })?;
    Ok(MetricsServer { stop, thread: Some(thread) })
}

/// The running metrics endpoint; dropping it stops it.
pub(crate) struct MetricsServer {
    stop: crate::shutdown::Latch,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.set();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_survive_the_channel_and_sum() {
        let metrics = Metrics::new(&Config::default());
        metrics.request_done(Some(StatusCode::OK), Duration::from_millis(3));
        metrics.request_done(Some(StatusCode::NOT_FOUND), Duration::from_secs(20));
        metrics.request_done(None, Duration::from_millis(1));
        metrics.received(100);
        let snapshot = metrics.snapshot();
        let parsed = Snapshot::parse(&snapshot.to_string()).expect("parses");
        assert_eq!(parsed, snapshot);
        let mut sum = Snapshot::default();
        sum.add(&parsed, true);
        sum.add(&parsed, false);
        assert_eq!(sum.requests, 6);
        assert_eq!(sum.statuses[&200], 2);
        let text = sum.render(Some(2));
        assert!(text.contains("milpa_requests_total 6\n"), "{text}");
        assert!(text.contains("milpa_request_duration_seconds_bucket{le=\"0.005\"} 4\n"), "{text}");
        assert!(text.contains("milpa_request_duration_seconds_bucket{le=\"+Inf\"} 6\n"), "{text}");
        assert!(text.contains("milpa_responses_total{code=\"404\"} 2\n"), "{text}");
        assert!(text.contains("milpa_received_bytes_total 200\n"), "{text}");
        assert!(text.contains("milpa_workers 2\n"), "{text}");
    }
}
