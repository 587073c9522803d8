//! `auditlogd`: the server. It opens (or creates) one log, keeps the API keys beside it,
//! and serves the gRPC services of `auditlog.v1` (with the standard health service and
//! server reflection) and the HTTP/JSON API until SIGINT or SIGTERM. Handlers only
//! translate: the engine does the work, on the blocking pool, and no engine lock is held
//! across an `.await`.

mod access;
mod archiver;
mod audit;
mod auth;
mod catalog;
mod cluster;
mod conn;
mod convert;
mod cosigning;
mod expiry;
mod export;
mod grpc;
mod http;
mod intake;
mod json_file;
mod keys;
mod limits;
mod metrics;
mod otlp;
mod paced;
mod panics;
mod replica;
mod shutdown;
mod sinks;
mod status;
mod tls;
mod viewer;
mod witness;
mod worker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use auditlog_archive::{
    Archive, DEFAULT_CACHE_BYTES, HotPolicy, S3Options, TierConfig, TieredStorage, check_apart,
};
use auditlog_engine::checkpoint::{NoteVerifier, load_verifier};
use auditlog_engine::privacy::Kek;
use auditlog_engine::storage::FsStorage;
use auditlog_engine::{CONFIG_FILE, Durability, Log, LogConfig, OpenOptions};
use clap::Parser;
use tokio::net::TcpListener;

use crate::archiver::Archiver;
use crate::audit::{Actor, SystemEvent};
use crate::conn::Timeouts;
use crate::expiry::Expirer;
use crate::keys::KeyStore;
use crate::limits::Limits;
use crate::metrics::ServerMetrics;
use crate::tls::TlsFiles;

/// The audit-log server.
#[derive(Debug, Parser)]
#[command(name = "auditlogd", version)]
struct Args {
    /// The log's directory; created, with a default configuration, when missing.
    #[arg(long, default_value = "auditlog-data")]
    data: PathBuf,
    /// Where gRPC listens.
    #[arg(long, default_value = "127.0.0.1:7070")]
    grpc: SocketAddr,
    /// Where the HTTP/JSON API listens.
    #[arg(long, default_value = "127.0.0.1:7080")]
    http: SocketAddr,
    /// Acknowledgement policy for this run (`always`, `interval:MS`, `none`); the log's
    /// own setting when absent.
    #[arg(long)]
    durability: Option<Durability>,
    /// Serve both APIs over TLS with this certificate chain (PEM, the server's first).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow plaintext (no `--tls-cert`) on an address other than loopback.
    #[arg(long)]
    allow_plaintext: bool,
    /// MiB of ingest requests the server holds unacknowledged at once; more are answered
    /// RESOURCE_EXHAUSTED with a retry hint.
    #[arg(long, default_value_t = 256)]
    max_in_flight_mib: u64,
    /// The largest request accepted, in MiB: one encoded gRPC message, or one HTTP or
    /// OTLP/HTTP body once inflated.
    #[arg(long, default_value_t = 4)]
    max_request_mib: usize,
    /// Exports and query streams open at once, in all; more are answered
    /// RESOURCE_EXHAUSTED (HTTP 429).
    #[arg(long, default_value_t = 256)]
    max_streams: usize,
    /// Exports and query streams one API key may have open at once.
    #[arg(long, default_value_t = 16)]
    max_streams_per_key: usize,
    /// Seconds a new connection has to send its first byte, and an HTTP request its
    /// headers.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a connection may stay open with no byte read or written.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Seconds a write may wait for a client that does not read before the connection
    /// is closed.
    #[arg(long, default_value_t = 30)]
    write_timeout: u64,
    /// Seconds that requests in flight get to finish after SIGTERM or SIGINT.
    #[arg(long, default_value_t = 10)]
    shutdown_grace: u64,
    /// The key-encryption key of a log that seals personal data (docs/PRIVACY.md): a file
    /// holding its 64 hex digits, outside the data directory. Or set AUDITLOG_KEK to the
    /// digits.
    #[arg(long, value_name = "FILE")]
    kek_file: Option<PathBuf>,
    /// Archive each sealed segment, in the background, to `s3://bucket/prefix` (with the
    /// AWS environment variables) or `file:///path` (docs/OPERATIONS.md, "Archival").
    #[arg(long, value_name = "URL")]
    archive: Option<String>,
    /// The S3 endpoint of a store other than AWS, e.g. `http://127.0.0.1:8333` (ignored
    /// without --archive: the variable is set on many hosts).
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    archive_endpoint: Option<String>,
    /// The archive's S3 region (ignored without --archive).
    #[arg(long, env = "AWS_REGION")]
    archive_region: Option<String>,
    /// A sealing log: back up its key store here, apart from `--archive`, replaced
    /// whenever it changes (docs/PRIVACY.md, "Backups of the key store").
    #[arg(long, value_name = "URL", requires = "archive")]
    archive_keys: Option<String>,
    /// The log's retention in days after each segment's newest event: with --archive,
    /// where the bucket has S3 Object Lock (which then requires it), each archived object
    /// is locked in COMPLIANCE mode until then; with --expire, segments past it are
    /// deleted.
    #[arg(long, value_name = "DAYS", alias = "archive-retain-days")]
    retain_days: Option<u64>,
    /// Archive segments without their Parquet (`segments/<base>.parquet`, each segment's
    /// events for analytics engines; docs/FORMAT.md).
    #[arg(long, requires = "archive")]
    archive_no_parquet: bool,
    /// Delete the segments past --retain-days (not held), at start and hourly, each
    /// deletion with a signed receipt; with --archive, from the archive too.
    #[arg(long, requires = "retain_days")]
    expire: bool,
    /// Release archived segments whose newest event is older than this many days from
    /// the local disk; the archive serves them through the cache (docs/OPERATIONS.md,
    /// "Tiers").
    #[arg(long, value_name = "DAYS", requires = "archive")]
    hot_days: Option<u64>,
    /// Release the oldest archived segments until the local sealed segments fit in this
    /// many bytes (the newest sealed segment always stays).
    #[arg(long, value_name = "BYTES", requires = "archive")]
    hot_bytes: Option<u64>,
    /// The most bytes of released segments kept in DATA/archive-cache (default: what
    /// archive.json says, else 1 GiB).
    #[arg(long, value_name = "BYTES")]
    cache_bytes: Option<u64>,
    /// The hosts sinks may deliver to, comma-separated, each a name or an address,
    /// alone or with `:port` (default: any). A sink elsewhere is refused when it is
    /// made, and not delivered to when the list no longer names it (docs/SINKS.md).
    #[arg(
        long,
        value_name = "HOSTS",
        value_delimiter = ',',
        env = "AUDITLOGD_SINK_HOSTS"
    )]
    sink_hosts: Vec<String>,
    /// Who may frame the viewer's pages at /ui/: a CSP `frame-ancestors` source list,
    /// as `https://app.example.com` for the application that embeds them (docs/VIEWER.md).
    #[arg(long, value_name = "SOURCES", default_value = "'self'")]
    viewer_frame_ancestors: String,
    /// The actions reports count as privileged and the viewer's preset selects,
    /// comma-separated, `x.*` for prefixes (default: the list in docs/VIEWER.md).
    #[arg(long, value_name = "PATTERNS", value_delimiter = ',')]
    privileged_actions: Vec<String>,
    /// Act as a witness of other logs (c2sp.org/tlog-witness) with the cosigner key in
    /// FILE, made on first start (named by --witness-name; its public key is written to
    /// FILE.pub): `POST /add-checkpoint` cosigns the --witness-log logs' checkpoints.
    #[arg(long, value_name = "FILE")]
    witness_key: Option<PathBuf>,
    /// The name of the witness key --witness-key makes, e.g. `witness.example.com/w1`.
    #[arg(long, value_name = "NAME")]
    witness_name: Option<String>,
    /// A log this server witnesses: its checkpoint verifier key (`auditlog key show`),
    /// as text or a file holding it; repeatable.
    #[arg(long, value_name = "VKEY")]
    witness_log: Vec<String>,
    /// A witness to ask for a cosignature of each new checkpoint (c2sp.org/tlog-witness):
    /// its URL prefix, a comma, and its cosigner key (text, or a file holding it), e.g.
    /// `https://witness.example.com,witness.example.com/w1+…`. Repeatable. With it,
    /// /checkpoint serves the newest checkpoint cosigned (docs/PROOFS.md, "Witnesses").
    #[arg(long, value_name = "URL,VKEY")]
    witnessed_by: Vec<String>,
    /// How many of the --witnessed-by witnesses must have cosigned a checkpoint for
    /// /checkpoint to serve it (default 1).
    #[arg(long, value_name = "K", requires = "witnessed_by")]
    witness_quorum: Option<usize>,
    #[command(flatten)]
    cluster: cluster::ClusterArgs,
    #[command(flatten)]
    replica: replica::ReplicaArgs,
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) log: Log,
    /// The public key of the log's checkpoints, for clients that ask.
    pub(crate) verifier: NoteVerifier,
    pub(crate) keys: KeyStore,
    pub(crate) metrics: Arc<ServerMetrics>,
    pub(crate) limits: Limits,
    /// The largest gRPC message accepted, in bytes.
    pub(crate) max_request_bytes: usize,
    /// The deadlines of every connection.
    pub(crate) timeouts: Timeouts,
    /// The action catalog's rules every way in checks events against.
    pub(crate) catalog: catalog::CatalogRules,
    /// The sinks the log is streamed to.
    pub(crate) sinks: sinks::Sinks,
    /// The viewer tokens issued.
    pub(crate) viewers: viewer::ViewerTokens,
    /// How the viewer's pages are served and what their preset selects.
    pub(crate) viewer_config: viewer::ViewerConfig,
    /// The witness this server is for other logs, if it is one.
    pub(crate) witness: Option<auditlog_engine::witness::Witness>,
    /// The witnesses asked to cosign this log's checkpoints (none without
    /// `--witnessed-by`).
    pub(crate) witnessing: cosigning::Witnessing,
    /// This node's membership of a cluster of tenant shards (none without
    /// `--cluster-etcd`): it writes only the tenants the shard map gives it.
    pub(crate) cluster: Option<Arc<cluster::Membership>>,
    /// This server's primary, when it is a read replica (`--replica-of`): it serves
    /// reads of its copy of the primary's log, and refuses the rest.
    pub(crate) replica: Option<Arc<replica::Replica>>,
    /// The keys that follow this server as its replicas'.
    pub(crate) followers: replica::Followers,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles::load(cert, key)?),
        _ => None,
    };
    for addr in [args.grpc, args.http] {
        if tls.is_none() && !addr.ip().is_loopback() && !args.allow_plaintext {
            anyhow::bail!(
                "refusing to serve plaintext on {addr}: use a loopback address, \
                 --tls-cert and --tls-key, or --allow-plaintext"
            );
        }
    }
    let s3 = S3Options {
        endpoint: args.archive_endpoint.clone(),
        region: args.archive_region.clone(),
        ..S3Options::default()
    };
    let archive = match &args.archive {
        Some(url) => {
            let mut archive = Archive::open(url, &s3)?;
            if let Some(days) = args.retain_days {
                archive = archive.with_retention_days(days);
            }
            if args.archive_no_parquet {
                archive = archive.without_parquet();
            }
            Some(archive)
        }
        None => None,
    };
    let archive_keys = match (&args.archive, &args.archive_keys) {
        (Some(archive), Some(keys)) => {
            check_apart(archive, keys)?;
            Some(Archive::open(keys, &s3)?)
        }
        _ => None,
    };
    let policy = HotPolicy {
        keep_days: args.hot_days,
        keep_bytes: args.hot_bytes,
    };
    let replica = args.replica.open(args.allow_plaintext)?.map(Arc::new);
    let tiers = open_tiers(&args, &s3, policy)?;
    let log = open_log(&args, tiers.clone(), replica.is_some())?;
    warn_if_shared(&args.data);
    let verifier = load_verifier(&FsStorage::default(), &args.data)
        .context("reading the checkpoint key")?
        .context("the log has no checkpoint key")?;
    let keys = if replica.is_some() {
        KeyStore::for_replica(&args.data)
    } else {
        let (keys, bootstrap) = KeyStore::open(&args.data)?;
        if let Some(secret) = bootstrap {
            // Printed once: the store keeps only its hash.
            println!("admin key: {secret}");
        }
        keys
    };
    let catalog = catalog::CatalogRules::load(&log).context("reading the action catalog")?;
    let sinks = sinks::Sinks::open(&args.data, &args.sink_hosts).context("reading the sinks")?;
    let viewers = viewer::ViewerTokens::open(&args.data).context("reading the viewer tokens")?;
    let viewer_config =
        viewer::ViewerConfig::new(&args.viewer_frame_ancestors, &args.privileged_actions)?;
    let witness = witness::open(
        &args.data,
        args.witness_key.as_deref(),
        args.witness_name.as_deref(),
        &args.witness_log,
    )
    .context("setting up the witness")?;
    let witnessing = cosigning::Witnessing::new(&args.witnessed_by, args.witness_quorum)?;
    if let Some(kept) = log.latest_cosigned_checkpoint() {
        witnessing.publish_if_met(kept);
    }
    let cluster = args
        .cluster
        .join(&log, &verifier)
        .context("joining the cluster")?
        .map(Arc::new);
    if cluster.is_some() {
        keys.join_cluster();
    }
    let metrics: Arc<ServerMetrics> = Arc::default();
    if let Some(tiers) = &tiers {
        metrics.reading_through(Arc::clone(tiers));
    }
    let state = Arc::new(State {
        log,
        verifier,
        keys,
        metrics,
        limits: Limits::new(
            args.max_in_flight_mib.saturating_mul(1 << 20),
            args.max_streams,
            args.max_streams_per_key,
        ),
        max_request_bytes: args.max_request_mib.saturating_mul(1 << 20),
        timeouts: Timeouts {
            header: Duration::from_secs(args.header_timeout.max(1)),
            idle: Duration::from_secs(args.idle_timeout.max(1)),
            write: Duration::from_secs(args.write_timeout.max(1)),
        },
        catalog,
        sinks,
        viewers,
        viewer_config,
        witness,
        witnessing,
        cluster,
        replica,
        followers: replica::Followers::default(),
    });
    // The configuration this run serves with is on record: a change shows as the
    // difference between two starts.
    let durability = args.durability.unwrap_or(state.log.config().durability);
    let start = SystemEvent {
        actor: Actor::Server,
        action: "auditlog.server.start",
        resource: None,
        details: serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "durability": durability.to_string(),
            "grpc": args.grpc.to_string(),
            "tls": tls.is_some(),
            "http": args.http.to_string(),
            "max_in_flight_mib": args.max_in_flight_mib,
            "max_request_mib": args.max_request_mib,
            "max_streams": args.max_streams,
            "max_streams_per_key": args.max_streams_per_key,
            "header_timeout_seconds": args.header_timeout,
            "idle_timeout_seconds": args.idle_timeout,
            "write_timeout_seconds": args.write_timeout,
            "shutdown_grace_seconds": args.shutdown_grace,
            "archive": archive.as_ref().map(|a| a.url().to_owned()),
            "archive_parquet": archive.as_ref().map(Archive::writes_parquet),
            "retain_days": args.retain_days,
            "expire": args.expire,
            "hot_days": args.hot_days,
            "hot_bytes": args.hot_bytes,
            "cache_bytes": tiers.as_ref().map(|t| t.cache_bytes()),
            "witnessed_by": state.witnessing.by.iter().map(|w| &w.url).collect::<Vec<_>>(),
            "witness_quorum": args.witness_quorum,
            "cluster": state.cluster.as_ref().map(|c| serde_json::json!({
                "etcd": args.cluster.etcd, "cluster": args.cluster.cluster, "node": c.name(),
            })),
        }),
    };
    if state.replica.is_none() {
        // A replica records nothing in its copy: its primary records its first call.
        audit::record(&state.log, start).context("recording the start")?;
    }
    // The expiry thread's own clients: a connection pooled by the archiver's runtime is
    // driven only while that runtime runs, and one taken from another runtime stalls.
    let archive_for_expiry = match (&args.archive, args.expire) {
        (Some(url), true) => Some(Archive::open(url, &s3)?),
        _ => None,
    };
    let archiver = match archive {
        Some(archive) => {
            state.metrics.archiving();
            let archiver = Archiver::start(Arc::clone(&state), archive, archive_keys, policy);
            Some(archiver.context("starting the archiver")?)
        }
        None => None,
    };
    let expirer = match (args.expire, args.retain_days) {
        (true, Some(days)) => {
            state.metrics.expiring();
            let expirer = Expirer::start(Arc::clone(&state), days, archive_for_expiry);
            Some(expirer.context("starting the deletions past retention")?)
        }
        _ => None,
    };
    let sinks = sinks::start(Arc::clone(&state)).context("starting the sinks")?;
    let cosigning = match state.witnessing.is_empty() {
        true => None,
        false => Some(cosigning::start(Arc::clone(&state)).context("starting the witnessing")?),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let grace = Duration::from_secs(args.shutdown_grace);
    let served = runtime.block_on(async {
        let stop = shutdown::on_signal().context("installing signal handlers")?;
        let grpc = grpc::serve(
            Arc::clone(&state),
            args.grpc,
            tls.as_ref(),
            stop.clone(),
            grace,
        );
        let http = http::serve(Arc::clone(&state), args.http, tls.as_ref(), stop, grace);
        // Renewed until the runtime ends; the lease is given up once the log is closed.
        if let Some(cluster) = &state.cluster {
            tokio::spawn(cluster::renew(Arc::clone(cluster)));
            tokio::spawn(cluster::share_keys(Arc::clone(&state)));
        }
        if state.replica.is_some() {
            tokio::spawn(replica::follow(Arc::clone(&state)));
            tokio::spawn(replica::share_keys(Arc::clone(&state)));
        }
        tokio::try_join!(grpc, http).map(|_| ())
    });
    // Connections still open after the grace period end with the runtime; requests
    // waiting on the blocking pool get a moment to finish (their acks come from the
    // writer, still running).
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Some(archiver) = archiver {
        archiver.stop(Duration::from_secs(5));
    }
    if let Some(expirer) = expirer {
        expirer.stop();
    }
    // A batch in flight is cut: its cursor was not written, so it is sent again.
    sinks.stop(Some(Duration::from_secs(1)));
    if let Some(cosigning) = cosigning {
        // A checkpoint not yet cosigned is sent again at the next start.
        cosigning.stop(Some(Duration::from_secs(1)));
    }
    let stop = SystemEvent {
        actor: Actor::Server,
        action: "auditlog.server.stop",
        resource: None,
        details: serde_json::json!({"cause": match &served {
            Ok(()) => "signal".to_owned(),
            Err(e) => format!("{e:#}"),
        }}),
    };
    if state.replica.is_some() {
        // Nothing of its own to record.
    } else if let Err(e) = audit::record(&state.log, stop) {
        eprintln!("auditlogd: {}", e.message());
    }
    // Whatever ended serving, the log closes cleanly: queued batches are written, the
    // last checkpoint signed.
    state.log.close();
    if let Some(cluster) = &state.cluster {
        // Only then is the name free for the next start (the tenants stay this node's).
        cluster::leave(cluster);
    }
    served
}

/// Binds `addr` for `what` (gRPC or HTTP) and says where on stderr, in the one line that
/// scripts and tests starting the server on port 0 read.
pub(crate) async fn listen(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for {what} on {addr}"))?;
    eprintln!("auditlogd: {what} listening on {}", listener.local_addr()?);
    Ok(listener)
}

/// Warns when the data directory, or anything in it, is open to other local users (the
/// server creates everything 0700 or 0600; an older or hand-made directory may not be).
fn warn_if_shared(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut shared = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        // The directory itself may be a link to where the data lives: follow it. Inside,
        // a link's own mode means nothing (and the engine makes none).
        let meta = if path == dir {
            std::fs::metadata(&path)
        } else {
            std::fs::symlink_metadata(&path)
        };
        let Ok(meta) = meta else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            shared.push((path.clone(), mode));
        }
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&path)
        {
            pending.extend(entries.flatten().map(|e| e.path()));
        }
    }
    if let Some((first, mode)) = shared.first() {
        eprintln!(
            "auditlogd: warning: {} entries of {} are open to other local users (first: {}, \
             mode {mode:o}); run chmod -R go-rwx {}",
            shared.len(),
            dir.display(),
            first.display(),
            dir.display()
        );
    }
}

/// The tiered storage the log is opened with when segments are (or may be) released to
/// the archive: with a hot policy, `--archive` is recorded in `archive.json` first; a
/// data directory that has one is read through its archive's cache even without
/// `--archive`.
fn open_tiers(
    args: &Args,
    s3: &S3Options,
    policy: HotPolicy,
) -> anyhow::Result<Option<Arc<TieredStorage>>> {
    let existing = TierConfig::load(&args.data)?;
    let config = match (&args.archive, existing) {
        (Some(url), Some(existing)) if policy.is_set() && existing.url != *url => {
            anyhow::bail!(
                "{}'s released segments are in {}, not {url}: release to one archive only",
                args.data.display(),
                existing.url
            );
        }
        (_, Some(existing)) => Some(existing),
        (Some(url), None) if policy.is_set() => {
            let config = TierConfig {
                url: url.clone(),
                cache_bytes: DEFAULT_CACHE_BYTES,
            };
            std::fs::create_dir_all(&args.data)
                .with_context(|| format!("creating {}", args.data.display()))?;
            Some(config)
        }
        _ => None,
    };
    let Some(mut config) = config else {
        return Ok(None);
    };
    if let Some(bytes) = args.cache_bytes {
        config.cache_bytes = bytes;
    }
    config.save(&args.data)?;
    Ok(Some(Arc::new(config.open_storage(&args.data, s3)?)))
}

/// Opens (or creates) the log; a replica's (`follower`) must be there already, made by
/// `auditlog restore` from the primary's archive.
fn open_log(args: &Args, tiers: Option<Arc<TieredStorage>>, follower: bool) -> anyhow::Result<Log> {
    let mut options = OpenOptions::new().follower(follower);
    if let Some(tiers) = tiers {
        options = options.storage(tiers);
    }
    if let Some(durability) = args.durability {
        options = options.durability(durability);
    }
    // From a file or the environment, never from the command line (`ps` shows it).
    let kek = match (&args.kek_file, std::env::var("AUDITLOG_KEK")) {
        (Some(path), _) => Some(Kek::from_file(path)?),
        (None, Ok(hex)) => Some(Kek::parse(&hex).context("AUDITLOG_KEK")?),
        (None, Err(_)) => None,
    };
    if let Some(kek) = kek {
        options = options.kek(kek);
    }
    if args.data.join(CONFIG_FILE).exists() {
        options
            .open(&args.data)
            .with_context(|| format!("opening the log in {}", args.data.display()))
    } else if follower {
        anyhow::bail!(
            "{} holds no log: a replica starts from a copy of its primary's, made by \
             `auditlog restore --from ARCHIVE --data {}` (without the private key)",
            args.data.display(),
            args.data.display()
        )
    } else {
        options
            .create(&args.data, &LogConfig::default())
            .with_context(|| format!("creating a log in {}", args.data.display()))
    }
}
