//! `course`: build, preview and publish course releases. Parses flags and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use builder::deploy::DeployOptions;
use builder::invalidate::Target;
use builder::publish::PublishOptions;
use builder::{build, BuildError, BuildOptions};
use clap::{Parser, Subcommand};

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
    },
    /// Upload the release to S3 atomically and invalidate exactly what changed.
    Publish {
        /// Where to publish: s3://bucket/prefix.
        #[arg(long)]
        store: String,
        /// S3 endpoint (Garage, MinIO, R2); path-style addressing is used with it.
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long)]
        region: Option<String>,
        #[arg(long, default_value = "live")]
        channel: String,
        /// The local store `course build` wrote.
        #[arg(long, default_value = "dist")]
        from: PathBuf,
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
        /// Print the plan (uploads, bytes, invalidation paths and cost); change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Wait until CloudFront reports the invalidation completed.
        #[arg(long)]
        wait: bool,
        /// Invalidation paths before collapsing to wildcards.
        #[arg(long, default_value_t = 30)]
        budget: usize,
        /// Uploads in flight.
        #[arg(long, default_value_t = builder::publish::DEFAULT_CONCURRENCY)]
        concurrency: usize,
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

impl BuildArgs {
    fn options(&self) -> BuildOptions {
        BuildOptions { content: self.content.clone(), out: self.out.clone(), channel: self.channel.clone() }
    }
}

fn run_build(args: &BuildArgs) -> Result<(), ExitCode> {
    match build(&args.options()) {
        Ok(report) => {
            println!("{report}");
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

fn run_publish(options: impl FnOnce() -> anyhow::Result<DeployOptions>) -> Result<(), ExitCode> {
    let result = options().and_then(|options| {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(builder::deploy::deploy(&options))
    });
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
    edge_origin::init_logging();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Build(args) => run_build(args),
        Command::Publish {
            store,
            endpoint,
            region,
            channel,
            from,
            cdn,
            purge,
            notify,
            notify_token,
            dry_run,
            wait,
            budget,
            concurrency,
        } => run_publish(|| {
            let store = edge_origin::store::StoreSpec::parse(store).map_err(anyhow::Error::msg)?;
            let mut targets = Vec::new();
            if let Some(cdn) = cdn {
                targets.push(builder::deploy::cdn_target(cdn)?);
            }
            targets.extend(purge.iter().map(|edge| Target::Purge { edge: edge.clone() }));
            if !notify.is_empty() && notify_token.is_none() {
                anyhow::bail!("--notify needs --notify-token (the origins' admin token)");
            }
            for origin in notify {
                let token = notify_token.clone().unwrap_or_default();
                targets.push(Target::Notify { origin: origin.clone(), token });
            }
            Ok(DeployOptions {
                publish: PublishOptions {
                    from: from.clone(),
                    store,
                    s3: edge_origin::store::S3Options { endpoint: endpoint.clone(), region: region.clone() },
                    channel: channel.clone(),
                    concurrency: *concurrency,
                    multipart_threshold: builder::publish::DEFAULT_MULTIPART_THRESHOLD,
                    dry_run: *dry_run,
                    progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                },
                targets,
                budget: *budget,
                wait: *wait,
            })
        }),
        Command::Sign { key, key_pair_id, url_prefix, ttl, ip } => {
            let options = builder::sign::SignOptions { key, key_pair_id, url_prefix, ttl: *ttl, ip: *ip };
            match builder::sign::sign(&options) {
                Ok(signed) => {
                    println!("url: {}", signed.url);
                    println!("expires: {}", signed.expires);
                    for (name, value) in &signed.issued.cookies {
                        println!("cookie: {name}={value}");
                    }
                    Ok(())
                }
                Err(err) => {
                    eprintln!("error: {err:#}");
                    Err(ExitCode::from(2))
                }
            }
        }
        Command::Serve { build, listen } => run_build(build).and_then(|()| {
            let config = edge_origin::Config::local(build.out.clone(), build.channel.clone(), *listen);
            edge_origin::run_blocking(config).map_err(|err| {
                eprintln!("error: {err:#}");
                ExitCode::from(2)
            })
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
