//! `course serve`: build, serve the release through an in-process edge-origin on the local
//! store, then watch the content: each change is rebuilt in the same process (caches kept
//! in memory) and swapped into the origin at once; open pages reload or show the errors.

use std::time::Instant;

use builder::live::watch::ContentWatch;
use builder::live::{author_errors, for_terminal, Session};
use builder::{BuildError, BuildOptions, BuildReport};
use edge_origin::LiveHandle;

use crate::failure::Failure;
use crate::out::say;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    build: crate::build::BuildArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Check grants for enrolled courses as production does (with a local key made for
    /// the preview; signed URLs to try are printed), instead of opening them.
    #[arg(long)]
    enforce_grants: bool,
    /// Open the site in the default browser once it is served.
    #[arg(long)]
    open: bool,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let options = BuildOptions { drafts: true, ..args.build.options() };
    let mut session = Session::new(options.clone());
    // Content errors do not stop the preview: the last good release (if any) is served
    // and every open page shows the errors until they are fixed.
    let first = session.rebuild();

    let mut config = edge_origin::Config::local(options.out.clone(), options.channel.clone(), args.listen);
    config.live_reload = true;
    let key = if args.enforce_grants {
        Some(builder::preview::enforce_grants(&mut config, &options.out)?)
    } else {
        None
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(anyhow::Error::from)?;
    let server = runtime.block_on(edge_origin::Server::bind(config))?;
    let live = server.live().ok_or_else(|| anyhow::anyhow!("the preview origin has no live reload"))?;
    let addr = server.local_addr().map_err(anyhow::Error::from)?;
    let url = format!("http://{addr}/");
    let grants = if key.is_some() { " (grants enforced)" } else { "" };
    say(format_args!("edge-origin listening on {url}{grants}"));
    if let Some(key) = &key {
        for signed in builder::preview::signed_urls(&server, key)? {
            say(format_args!("  {signed}"));
        }
        say(format_args!(
            "open a course with its signed URL above (as printed: http://{addr}, not another name for it)"
        ));
    }
    let watch = ContentWatch::start(&options.content, std::slice::from_ref(&options.out))?;
    say(format_args!("watching {} (live reload on; Ctrl-C stops)", options.content.display()));
    let built = first.is_ok();
    show(&live, &options, first, None);
    if built {
        runtime.block_on(live.swap())?;
    }
    if args.open {
        open_browser(&url);
    }

    let serving = runtime.spawn(server.serve(edge_origin::shutdown_signal()));
    let swap = |live: &LiveHandle| runtime.block_on(live.swap());
    // The watcher ends with the process (Ctrl-C ends the server, then `serving`).
    std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Some(change) = watch.next_change() {
                let changed = match change {
                    Ok(changed) => changed,
                    Err(err) => {
                        eprintln!("warning: {err:#}");
                        continue;
                    }
                };
                let started = Instant::now();
                let outcome = session.rebuild();
                let built = outcome.is_ok();
                let summary = format!("{} changed", describe(&changed));
                show(&live, session.options(), outcome, Some((summary, started)));
                if built {
                    if let Err(err) = swap(&live) {
                        eprintln!("error: {err:#}");
                    }
                }
            }
        });
        let _ = runtime.block_on(serving);
        std::process::exit(0);
    })
}

/// Prints a rebuild's outcome and tells the open pages about its errors (none: cleared).
fn show(
    live: &LiveHandle,
    options: &BuildOptions,
    outcome: Result<BuildReport, BuildError>,
    change: Option<(String, Instant)>,
) {
    match outcome {
        Ok(report) => {
            live.report(Vec::new());
            match change {
                Some((summary, started)) => say(format_args!(
                    "{summary}: rebuilt in {:.0?}, {} page(s) rendered, release {}",
                    started.elapsed(),
                    report.pages_rendered,
                    report.release
                )),
                None => say(&report),
            }
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
        }
        Err(BuildError::Content { errors, warnings }) => {
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            let shown = author_errors(&errors);
            if let Some((summary, _)) = change {
                eprintln!("{summary}:");
            }
            eprintln!("{}", for_terminal(&shown));
            live.report(shown);
        }
        Err(other) => eprintln!("error: building {}: {other}", options.content.display()),
    }
}

/// `a.md`, or `a.md and 2 more`.
fn describe(changed: &[std::path::PathBuf]) -> String {
    match changed {
        [] => "nothing".to_owned(),
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!("{} and {} more", first.display(), rest.len()),
    }
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    if let Err(err) = std::process::Command::new(opener).arg(url).spawn() {
        eprintln!("warning: could not open a browser ({opener}: {err}); open {url}");
    }
}
