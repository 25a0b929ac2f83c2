//! `course`: build, preview and publish course releases. Parses flags and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use builder::deploy::DeployOptions;
use builder::invalidate::Target;
use builder::publish::PublishOptions;
use builder::switch::SwitchOptions;
use builder::{build, BuildError, BuildOptions};
use clap::{Parser, Subcommand};

/// `println!`, except that a closed stdout (`course releases | head`) ends the program
/// quietly, as other Unix tools do, instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

// A build allocates and frees many buffers (pages, compressor tables) across threads;
// mimalloc keeps them instead of returning them to the kernel each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "course", version, about = "Build, preview and publish course releases")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct BuildArgs {
    /// The content tree to build.
    #[arg(long, default_value = "content")]
    content: PathBuf,
    /// The local store to write the release into.
    #[arg(long, default_value = "dist")]
    out: PathBuf,
    /// The channel to point at the new release.
    #[arg(long, default_value = "live")]
    channel: String,
    /// Print how long each phase of the build took.
    #[arg(long)]
    timings: bool,
    /// Largest lesson, TOML or instructions file the build reads, e.g. 1MiB.
    #[arg(long, default_value = "1MiB", value_parser = edge_origin::config::parse_bytes)]
    max_source_size: u64,
}

/// Where the S3 store is.
#[derive(clap::Args, Clone)]
struct RemoteArgs {
    /// The store: s3://bucket/prefix.
    #[arg(long)]
    store: String,
    /// S3 endpoint (Garage, MinIO, R2); path-style addressing is used with it.
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long)]
    region: Option<String>,
}

/// What to invalidate after a channel moves.
#[derive(clap::Args, Clone)]
struct CdnArgs {
    /// CloudFront distribution to invalidate: cloudfront:DIST_ID.
    #[arg(long)]
    cdn: Option<String>,
    /// A Varnish edge to send PURGE requests to (repeatable).
    #[arg(long)]
    purge: Vec<String>,
    /// An edge-origin to tell to reload now (repeatable; needs --notify-token).
    #[arg(long)]
    notify: Vec<String>,
    #[arg(long, env = "COURSE_NOTIFY_TOKEN", hide_env_values = true)]
    notify_token: Option<String>,
    /// Wait until CloudFront reports the invalidation completed.
    #[arg(long)]
    wait: bool,
    /// Invalidation paths before collapsing to wildcards.
    #[arg(long, default_value_t = 30)]
    budget: usize,
}

impl RemoteArgs {
    fn parse(&self) -> anyhow::Result<(edge_origin::store::StoreSpec, edge_origin::store::S3Options)> {
        let store = edge_origin::store::StoreSpec::parse(&self.store).map_err(anyhow::Error::msg)?;
        Ok((
            store,
            edge_origin::store::S3Options { endpoint: self.endpoint.clone(), region: self.region.clone() },
        ))
    }
}

impl RemoteArgs {
    async fn client(&self) -> anyhow::Result<(String, String, aws_sdk_s3::Client)> {
        match self.parse()? {
            (edge_origin::store::StoreSpec::S3 { bucket, prefix }, s3) => {
                Ok((bucket, prefix, builder::history::client(&s3).await))
            }
            _ => anyhow::bail!("--store must be s3://bucket/prefix"),
        }
    }
}

impl CdnArgs {
    fn targets(&self) -> anyhow::Result<Vec<Target>> {
        let mut targets = Vec::new();
        if let Some(cdn) = &self.cdn {
            targets.push(builder::deploy::cdn_target(cdn)?);
        }
        targets.extend(self.purge.iter().map(|edge| Target::Purge { edge: edge.clone() }));
        if !self.notify.is_empty() && self.notify_token.is_none() {
            anyhow::bail!("--notify needs --notify-token (the origins' admin token)");
        }
        for origin in &self.notify {
            targets.push(Target::Notify {
                origin: origin.clone(),
                token: self.notify_token.clone().unwrap_or_default(),
            });
        }
        Ok(targets)
    }

    fn switch_options(&self, remote: &RemoteArgs) -> anyhow::Result<SwitchOptions> {
        let (store, s3) = remote.parse()?;
        Ok(SwitchOptions { store, s3, targets: self.targets()?, budget: self.budget, wait: self.wait })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Render content into a content-hashed release in a local store.
    Build(BuildArgs),
    /// Build, then serve the release through edge-origin on the local store.
    Serve {
        #[command(flatten)]
        build: BuildArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Check grants for enrolled courses as production does (with a local key made for
        /// the preview; signed URLs to try are printed), instead of opening them.
        #[arg(long)]
        enforce_grants: bool,
    },
    /// Manage the key pairs that sign grants.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Upload the release to S3 atomically and invalidate exactly what changed.
    Publish {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        cdn: CdnArgs,
        #[arg(long, default_value = "live")]
        channel: String,
        /// The local store `course build` wrote.
        #[arg(long, default_value = "dist")]
        from: PathBuf,
        /// Print the plan (uploads, bytes, invalidation paths and cost); change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Uploads in flight.
        #[arg(long, default_value_t = builder::publish::DEFAULT_CONCURRENCY)]
        concurrency: usize,
    },
    /// Point a channel back at its previous release (or --to ID), then invalidate.
    Rollback {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        cdn: CdnArgs,
        #[arg(long, default_value = "live")]
        channel: String,
        /// The release to go back to (default: the one before the current).
        #[arg(long)]
        to: Option<bundle::ReleaseId>,
    },
    /// Point one channel at the release another serves (e.g. --from preview --to live).
    Promote {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        cdn: CdnArgs,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
    /// List each channel's releases (newest first), with times and counts.
    Releases {
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Delete objects no recent release of any channel needs.
    Gc {
        #[command(flatten)]
        remote: RemoteArgs,
        /// Releases kept per channel (besides the live one).
        #[arg(long)]
        keep: usize,
        /// Only objects older than this are deleted (a publish may be under way).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        grace: std::time::Duration,
        /// Abort the whole run, deleting nothing, when more objects than this would go.
        #[arg(long, default_value_t = 10_000)]
        max_delete: usize,
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a deterministic synthetic catalogue (and optionally Hugo and mdBook peers).
    Generate {
        /// Where to write the content tree (cleared only if empty or generated before).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, value_enum, default_value = "full")]
        size: builder::generate::Size,
        /// The theme copied into the tree.
        #[arg(long, default_value = "content/theme")]
        theme: PathBuf,
        /// Also write the same lessons as a Hugo site here.
        #[arg(long)]
        hugo: Option<PathBuf>,
        /// Also write the same lessons as an mdBook here.
        #[arg(long)]
        mdbook: Option<PathBuf>,
    },
    /// Issue a signed URL and cookies for an enrolled-only course (CloudFront format).
    Sign {
        /// Private key PEM (RSA-2048 or ECDSA P-256).
        #[arg(long)]
        key: PathBuf,
        /// The key pair id the edge knows the public key by.
        #[arg(long)]
        key_pair_id: String,
        /// What the grant opens, ending in `/`, e.g. https://learn.example.org/courses/py1/
        #[arg(long)]
        url_prefix: String,
        /// How long the grant lasts.
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
        /// Only for requests from this network (CIDR).
        #[arg(long)]
        ip: Option<ipnet::IpNet>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new key pair (ECDSA P-256 by default) and print how to use it.
    New {
        /// Where to write `<id>.pem` and `<id>.pub.pem`.
        #[arg(long, default_value = "keys")]
        out: PathBuf,
        /// The key pair id (CloudFront's public key id); default: a random one.
        #[arg(long)]
        id: Option<String>,
        #[arg(long, value_enum, default_value = "p256")]
        algorithm: builder::keys::Algorithm,
    },
}

impl BuildArgs {
    fn options(&self) -> BuildOptions {
        BuildOptions {
            content: self.content.clone(),
            out: self.out.clone(),
            channel: self.channel.clone(),
            max_source_bytes: self.max_source_size,
        }
    }
}

/// Unused files listed by name after a build (the rest are counted).
const UNPUBLISHED_SHOWN: usize = 20;

fn run_build(args: &BuildArgs) -> Result<(), ExitCode> {
    match build(&args.options()) {
        Ok(report) => {
            say!("{report}");
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            if !report.unpublished.is_empty() {
                eprintln!(
                    "warning: {} file(s) that no page uses were not published:",
                    report.unpublished.len()
                );
                for path in report.unpublished.iter().take(UNPUBLISHED_SHOWN) {
                    eprintln!("  {}", path.display());
                }
                if report.unpublished.len() > UNPUBLISHED_SHOWN {
                    eprintln!("  ... and {} more", report.unpublished.len() - UNPUBLISHED_SHOWN);
                }
            }
            if args.timings {
                for (phase, took) in &report.phases {
                    say!("  {:>8.1} ms  {phase}", took.as_secs_f64() * 1000.0);
                }
            }
            Ok(())
        }
        Err(BuildError::Content(errors)) => {
            for error in &errors {
                eprintln!("error: {error}");
            }
            eprintln!("{} content error(s); no release written", errors.len());
            Err(ExitCode::from(1))
        }
        Err(err) => {
            eprintln!("error: {err}");
            Err(ExitCode::from(2))
        }
    }
}

/// Runs a remote command on a new runtime and prints its report.
fn run_async(command: impl std::future::Future<Output = anyhow::Result<String>>) -> Result<(), ExitCode> {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(command));
    match result {
        Ok(report) => {
            print!("{report}");
            Ok(())
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let _log_flusher = edge_origin::init_logging();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Build(args) => run_build(args),
        Command::Publish { remote, cdn, channel, from, dry_run, concurrency } => run_async(async {
            let (store, s3) = remote.parse()?;
            let options = DeployOptions {
                publish: PublishOptions {
                    from: from.clone(),
                    store,
                    s3,
                    channel: channel.clone(),
                    concurrency: *concurrency,
                    multipart_threshold: builder::publish::DEFAULT_MULTIPART_THRESHOLD,
                    dry_run: *dry_run,
                    progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                },
                targets: cdn.targets()?,
                budget: cdn.budget,
                wait: cdn.wait,
            };
            Ok(builder::deploy::deploy(&options).await?.to_string())
        }),
        Command::Rollback { remote, cdn, channel, to } => run_async(async {
            let options = cdn.switch_options(remote)?;
            Ok(builder::switch::rollback(&options, channel, to.clone()).await?.to_string())
        }),
        Command::Promote { remote, cdn, from, to } => run_async(async {
            let options = cdn.switch_options(remote)?;
            Ok(builder::switch::promote(&options, from, to).await?.to_string())
        }),
        Command::Releases { remote } => run_async(async {
            let (bucket, prefix, client) = remote.client().await?;
            let mut out =
                String::from("channel  seq  release               published at          routes  objects\n");
            for e in builder::history::releases(&client, &bucket, &prefix).await? {
                let when = e.published_at.as_deref().unwrap_or("-");
                let live = if e.live { "  (live)" } else { "" };
                out += &format!(
                    "{:<8} {:>4}  {}  {:<20}  {:>6}  {:>7}{live}\n",
                    e.channel, e.sequence, e.release, when, e.routes, e.objects
                );
            }
            Ok(out)
        }),
        Command::Gc { remote, keep, grace, max_delete, dry_run } => run_async(async {
            let (bucket, prefix, client) = remote.client().await?;
            let plan =
                builder::history::gc(&client, &bucket, &prefix, *keep, *grace, *max_delete, *dry_run).await?;
            let verb = if *dry_run { "would delete" } else { "deleted" };
            let kept: Vec<String> = plan.keep.iter().map(ToString::to_string).collect();
            let spared = match plan.spared {
                0 => String::new(),
                n => format!("; spared {n} objects of releases uploaded or claimed while gc ran"),
            };
            let restored = match plan.restored.len() {
                0 => String::new(),
                n => format!("; put back {n} manifests of releases a flip claimed while gc ran"),
            };
            Ok(format!(
                "{verb} {} objects ({}) and {} old manifests; {} objects too young{spared}{restored}; kept releases: {}\n",
                plan.delete.len(),
                builder::build::human_bytes(plan.bytes),
                plan.manifests.len(),
                plan.too_young,
                kept.join(" ")
            ))
        }),
        Command::Sign { key, key_pair_id, url_prefix, ttl, ip } => {
            let options = builder::sign::SignOptions { key, key_pair_id, url_prefix, ttl: *ttl, ip: *ip };
            match builder::sign::sign(&options) {
                Ok(signed) => {
                    say!("url: {}", signed.url);
                    say!("expires: {}", signed.expires);
                    for (name, value) in &signed.issued.cookies {
                        say!("cookie: {name}={value}");
                    }
                    Ok(())
                }
                Err(err) => {
                    eprintln!("error: {err:#}");
                    Err(ExitCode::from(2))
                }
            }
        }
        Command::Generate { out, seed, size, theme, hugo, mdbook } => {
            let options = builder::generate::GenerateOptions {
                out: out.clone(),
                seed: *seed,
                size: *size,
                theme: theme.clone(),
                hugo: hugo.clone(),
                mdbook: mdbook.clone(),
            };
            match builder::generate::generate(&options) {
                Ok(summary) => {
                    say!("{summary}");
                    Ok(())
                }
                Err(err) => {
                    eprintln!("error: {err:#}");
                    Err(ExitCode::from(2))
                }
            }
        }
        Command::Serve { build, listen, enforce_grants } => run_build(build).and_then(|()| {
            let config = edge_origin::Config::local(build.out.clone(), build.channel.clone(), *listen);
            let served = if *enforce_grants {
                builder::preview::serve_enforcing_grants(config, &build.out)
            } else {
                edge_origin::run_blocking(config)
            };
            served.map_err(|err| {
                eprintln!("error: {err:#}");
                ExitCode::from(2)
            })
        }),
        Command::Keys { command: KeysCommand::New { out, id, algorithm } } => {
            let id = id.clone().unwrap_or_else(builder::keys::random_id);
            match builder::keys::new_pair(out, &id, *algorithm) {
                Ok(keys) => {
                    say!("{keys}");
                    Ok(())
                }
                Err(err) => {
                    eprintln!("error: {err:#}");
                    Err(ExitCode::from(2))
                }
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
