//! `wa-sidecar bench callbacks`: events per second delivered to a local receiver with durable
//! (fsynced) commits, and enqueue → receipt latency percentiles. The CLI or `benches/callbacks.rs`
//! calls [`run`]; nothing here runs in the service.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{store, CallbacksConfig, Outbox, OutboxError};
use crate::events::kind;
use crate::ids::{SessionId, SessionKey, WorkspaceId};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub events: usize,
    pub sessions: usize,
    pub workers: usize,
    /// Events per second offered; `None`: as fast as commits allow.
    pub rate: Option<f64>,
    /// Where the database goes; a temp dir when `None`.
    pub dir: Option<PathBuf>,
    /// Give up waiting for deliveries after this long.
    pub deadline: Duration,
    /// Queue every event first (batched commits), then start delivery: the drain rate after an
    /// outage. The enqueue figure is then the fill rate, not the durable per-event rate.
    pub backlog: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            events: 5000,
            sessions: 50,
            workers: CallbacksConfig::default().workers,
            rate: None,
            dir: None,
            deadline: Duration::from_secs(300),
            backlog: false,
        }
    }
}

/// `wa-sidecar bench callbacks` arguments, for the CLI to flatten into its subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Events to send.
    #[arg(long, default_value_t = 5000)]
    pub events: usize,
    /// Sessions they are spread over (each delivers in order, one at a time).
    #[arg(long, default_value_t = 50)]
    pub sessions: usize,
    /// `callbacks.workers` (its default when absent).
    #[arg(long, default_value_t = CallbacksConfig::default().workers)]
    pub workers: usize,
    /// Offered events per second; as fast as durable commits allow when absent.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Queue this many events first (in batches of 10,000 per transaction), then deliver: the
    /// drain rate after an outage. Replaces `--events`.
    #[arg(long, value_name = "N")]
    pub backlog: Option<usize>,
    /// Directory for the bench database (a temporary one when absent).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl From<BenchArgs> for BenchOptions {
    fn from(a: BenchArgs) -> Self {
        Self {
            events: a.backlog.unwrap_or(a.events),
            sessions: a.sessions,
            workers: a.workers,
            rate: a.rate.filter(|r| *r > 0.0),
            dir: a.dir,
            backlog: a.backlog.is_some(),
            deadline: Duration::from_secs(3600),
        }
    }
}

/// Run on a fresh runtime and print the report: the body of `wa-sidecar bench callbacks`.
/// Ctrl-C or SIGTERM stops the run; its temp folder is removed on that path too.
pub fn run_cli(args: BenchArgs) -> Result<BenchReport, BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            report = run(args.into()) => report,
            _ = tokio::signal::ctrl_c() => Err(BenchError::Interrupted),
            _ = term.recv() => Err(BenchError::Interrupted),
        }
    });
    // The dispatcher and the blocking pool may still hold the database: do not wait for them.
    runtime.shutdown_timeout(Duration::from_secs(2));
    let report = report?;
    println!("{report}");
    Ok(report)
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("bench I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("only {delivered} of {events} events arrived within the deadline")]
    Incomplete { delivered: usize, events: usize },
    #[error("bench producer failed: {0}")]
    Producer(String),
    #[error("interrupted; the bench's temp folder was removed")]
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub options: BenchOptions,
    pub enqueue_per_sec: f64,
    pub delivered_per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// CPU time of the whole process (bench receiver included) per delivered event, during delivery.
    pub cpu_per_event: Duration,
    /// Transactions that settled attempts and claimed heads during delivery.
    pub rounds: u64,
    pub dir: PathBuf,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let rate = o.rate.map_or("max".to_owned(), |r| format!("{r:.0}/s"));
        let mode = if o.backlog { "backlog drain" } else { "live" };
        writeln!(
            f,
            "callbacks bench ({mode}): {} events, {} sessions, {} workers, offered rate {rate}",
            o.events, o.sessions, o.workers
        )?;
        let how = if o.backlog { "backlog fill, batched" } else { "durable commit" };
        writeln!(f, "  enqueue ({how}):  {:>9.0} events/s", self.enqueue_per_sec)?;
        writeln!(f, "  delivered (2xx received):  {:>9.0} events/s", self.delivered_per_sec)?;
        writeln!(
            f,
            "  process CPU per delivered event: {:.0} us (sidecar and receiver); {} settle/claim commits, {:.1} events each",
            self.cpu_per_event.as_secs_f64() * 1e6,
            self.rounds,
            o.events as f64 / self.rounds.max(1) as f64
        )?;
        writeln!(f, "  database in {}", self.dir.display())?;
        if o.backlog {
            return write!(f, "  (latency not meaningful: every event waited for the whole backlog to be committed)");
        }
        write!(
            f,
            "  enqueue -> delivery latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Run the bench on the current tokio runtime. Without `dir`, the database goes to a fresh
/// folder under the system temp dir (`/tmp`, on the disk, not a tmpfs, on the project's
/// machine), removed when the run ends however it ends (error, panic, or the future dropped on
/// Ctrl-C).
pub async fn run(options: BenchOptions) -> Result<BenchReport, BenchError> {
    let (url, mut arrivals) = receiver().await?;
    let temp = options.dir.is_none().then(|| {
        RemovedOnDrop(
            std::env::temp_dir().join(format!("wa-sidecar-bench-{}", uuid::Uuid::now_v7())),
        )
    });
    let dir =
        options.dir.clone().or_else(|| temp.as_ref().map(|t| t.0.clone())).unwrap_or_default();
    measure(options, url, &mut arrivals, &dir).await
}

/// A folder removed when this is dropped.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// User plus system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

async fn measure(
    options: BenchOptions,
    url: String,
    arrivals: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    dir: &std::path::Path,
) -> Result<BenchReport, BenchError> {
    let cfg = CallbacksConfig {
        url,
        // The bench measures delivery, not the bounds.
        max_queued_per_workspace: usize::MAX,
        max_queued_bytes_per_workspace: u64::MAX,
        max_queued_bytes: u64::MAX,
        secrets: vec![format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
        )],
        workers: options.workers,
        ..CallbacksConfig::default()
    };
    let outbox = Outbox::open(
        &cfg,
        &crate::db::path_in(dir),
        Arc::new(crate::net::NetPolicy::permissive()),
        Arc::new(crate::vault::VaultKeys::single("bench", crate::vault::MasterKey::random())),
    )?;
    let enqueued: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let producer = tokio::task::spawn_blocking({
        let (outbox, enqueued, options) = (outbox.clone(), enqueued.clone(), options.clone());
        move || {
            if options.backlog {
                fill(&outbox, &options)
            } else {
                produce(&outbox, &enqueued, &options)
            }
        }
    });
    let producer = if options.backlog {
        let took = producer.await.map_err(|e| BenchError::Producer(e.to_string()))?;
        tokio::spawn(async move { took })
    } else {
        producer
    };
    let started = Instant::now();
    let (cpu_before, rounds_before) = (cpu_time(), outbox.inner.rounds.load(Ordering::Relaxed));
    outbox.start();
    // Sized up front: growing a map of a million ids while timing would charge its rehashing
    // to the drain.
    let mut received = HashMap::with_capacity(options.events);
    let waiting = async {
        while received.len() < options.events {
            let Some((id, at)) = arrivals.recv().await else { break };
            received.entry(id).or_insert(at);
        }
    };
    let _ = tokio::time::timeout(options.deadline, waiting).await;
    let delivered_in = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let rounds = outbox.inner.rounds.load(Ordering::Relaxed) - rounds_before;
    let enqueue_time = producer.await.map_err(|e| BenchError::Producer(e.to_string()))??;
    outbox.shutdown();
    if received.len() < options.events {
        return Err(BenchError::Incomplete { delivered: received.len(), events: options.events });
    }
    let sent = enqueued.lock().unwrap_or_else(|p| p.into_inner());
    let mut latencies: Vec<Duration> = received
        .iter()
        .filter_map(|(id, at)| Some(at.saturating_duration_since(*sent.get(id)?)))
        .collect();
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Ok(BenchReport {
        enqueue_per_sec: options.events as f64 / enqueue_time.as_secs_f64(),
        delivered_per_sec: options.events as f64 / delivered_in.as_secs_f64(),
        p50: pick(0.5),
        p99: pick(0.99),
        max: pick(1.0),
        cpu_per_event: cpu / options.events.max(1) as u32,
        rounds,
        dir: dir.to_owned(),
        options,
    })
}

/// Enqueue every event (round-robin over sessions, paced when a rate is set); returns the time taken.
fn produce(
    outbox: &Outbox,
    enqueued: &Mutex<HashMap<String, Instant>>,
    o: &BenchOptions,
) -> Result<Duration, BenchError> {
    let workspace = WorkspaceId::parse("bench").map_err(|e| BenchError::Producer(e.to_string()))?;
    let keys: Vec<SessionKey> = (0..o.sessions.max(1))
        .map(|i| SessionId::parse(&format!("s{i}")).map(|s| SessionKey::new(workspace.clone(), s)))
        .collect::<Result<_, _>>()
        .map_err(|e| BenchError::Producer(e.to_string()))?;
    let start = Instant::now();
    for n in 0..o.events {
        if let Some(rate) = o.rate {
            let due = start + Duration::from_secs_f64(n as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let data = serde_json::json!({ "status": "connected", "n": n });
        let at = Instant::now();
        let queued = outbox.enqueue(
            kind::SESSION_STATUS,
            &keys[n % keys.len()],
            &data,
            SystemTime::now(),
        )?;
        enqueued.lock().unwrap_or_else(|p| p.into_inner()).insert(queued.id, at);
    }
    Ok(start.elapsed())
}

/// Queue every event in batched transactions (an outage's backlog); returns the time taken.
fn fill(outbox: &Outbox, o: &BenchOptions) -> Result<Duration, BenchError> {
    const BATCH: usize = 10_000;
    let start = Instant::now();
    let sessions: Vec<String> = (0..o.sessions.max(1)).map(|i| format!("s{i}")).collect();
    let timestamp = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let mut n = 0;
    while n < o.events {
        let end = (n + BATCH).min(o.events);
        let rows: Vec<(String, String, &str)> = (n..end)
            .map(|i| {
                let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
                let session = sessions[i % sessions.len()].as_str();
                let body = serde_json::json!({
                    "id": id, "type": kind::SESSION_STATUS, "timestamp": timestamp,
                    "workspace": "bench", "session": session,
                    "data": { "status": "connected", "n": i },
                })
                .to_string();
                (id, body, session)
            })
            .collect();
        let now = super::outbox::now_ms();
        let events: Vec<store::NewEvent<'_>> = rows
            .iter()
            .map(|(id, body, session)| store::NewEvent {
                id,
                kind: kind::SESSION_STATUS,
                workspace: "bench",
                session,
                body,
                now,
            })
            .collect();
        let added = store::insert_many(&mut *outbox.inner.durable()?, &events)
            .map_err(OutboxError::from)?;
        outbox.inner.metrics.queued.inc_by(added as i64);
        n = end;
    }
    Ok(start.elapsed())
}

/// A minimal keep-alive HTTP/1.1 receiver answering 204 and reporting (webhook-id, arrival).
async fn receiver() -> Result<(String, mpsc::UnboundedReceiver<(String, Instant)>), BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/bench", listener.local_addr()?);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, tx.clone()));
        }
    });
    Ok((url, rx))
}

async fn serve(
    stream: TcpStream,
    tx: mpsc::UnboundedSender<(String, Instant)>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let (mut len, mut id) = (0usize, String::new());
        loop {
            line.clear();
            read.read_line(&mut line).await?;
            let Some((k, v)) = line.trim_end().split_once(':') else { break };
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "webhook-id" => id = v.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0; len];
        read.read_exact(&mut body).await?;
        let _ = tx.send((id, Instant::now()));
        write.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await?;
    }
}
