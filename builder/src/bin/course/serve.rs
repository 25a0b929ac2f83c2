//! `course serve`: serve the store's last good release through an in-process edge-origin
//! at once, build the content, then watch it: each change is rebuilt in the same process
//! (caches kept in memory) and swapped into the origin at once; open pages reload or show
//! the errors.

use std::path::PathBuf;
use std::time::Instant;

use builder::live::watch::ContentWatch;
use builder::live::{author_errors, for_terminal, store_error, Session};
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
    // The preview shows drafts (marked); `course publish` refuses a release that has them.
    // No compressed variants (see `BuildOptions::precompress`), no search index (each edit
    // would rebuild it, docs/theme.md) and no save lists (no worker) in the live preview.
    let timings = args.build.timings;
    let options = BuildOptions {
        drafts: true,
        precompress: false,
        search: false,
        offline_lists: false,
        keep_manifest: true,
        ..args.build.options()
    };
    let mut config = edge_origin::Config::local(options.out.clone(), options.channel.clone(), args.listen);
    config.live_reload = true;
    let key = if args.enforce_grants {
        Some(builder::preview::enforce_grants(&mut config, &options.out)?)
    } else {
        None
    };
    // Served before the first build: the last good release (if the store has one) is there
    // at once, and the build's outcome is swapped in or shown when it is done.
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(anyhow::Error::from)?;
    let server = runtime.block_on(edge_origin::Server::bind(config))?;
    let live = server.live().ok_or_else(|| anyhow::anyhow!("the preview origin has no live reload"))?;
    let addr = server.local_addr().map_err(anyhow::Error::from)?;
    let url = format!("http://{addr}/");
    let grants = if key.is_some() { " (grants enforced)" } else { "" };
    say(format_args!("edge-origin listening on {url}{grants}"));
    let watch = ContentWatch::start(&options.content, std::slice::from_ref(&options.out))?;
    say(format_args!("watching {} (live reload on; Ctrl-C stops)", options.content.display()));
    let serving = runtime.spawn(server.serve(edge_origin::shutdown_signal()));
    // The release just built is handed over whole, not read back from the store.
    let swap = |live: &LiveHandle, report: &mut BuildReport| {
        let built = report.manifest.take().map(|m| (report.release.clone(), m));
        runtime.block_on(live.swap_built(built))
    };

    let mut session = Session::new(options.clone());
    let mut first = session.rebuild();
    // Swapped in before it is reported: a printed release is a served one.
    if let Ok(report) = &mut first {
        swap(&live, report)?;
    }
    show(&live, &options, timings, first, None);
    if let Some(key) = &key {
        // For the enrolled courses of the release served after the first build.
        for signed in signed_urls_now(&live, key, &addr)? {
            say(format_args!("  {signed}"));
        }
        say(format_args!(
            "open a course with its signed URL above (as printed: http://{addr}, not another name for it)"
        ));
    }
    if args.open {
        open_browser(&url);
    }

    // The watcher ends with the process (Ctrl-C ends the server, then `serving`).
    std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Some(change) = watch.next_change() {
                // After a watcher error (events lost), every file is looked at again.
                let (changed, watched) = match change {
                    Ok(changed) => (changed, true),
                    Err(err) => {
                        eprintln!("warning: {err:#}; rebuilding from every file");
                        (Vec::new(), false)
                    }
                };
                let started = Instant::now();
                let mut outcome = if watched { session.rebuild_after(&changed) } else { session.rebuild() };
                if let Ok(report) = &mut outcome {
                    let swapping = Instant::now();
                    if let Err(err) = swap(&live, report) {
                        eprintln!("error: {err:#}");
                    }
                    report.phases.push(("swap into the origin", swapping.elapsed()));
                }
                let summary = format!("{} changed", describe(&changed, &session.options().content));
                show(&live, session.options(), timings, outcome, Some((summary, started)));
            }
        });
        let _ = runtime.block_on(serving);
        std::process::exit(0);
    })
}

/// Signed URLs for the enrolled courses of the release served now.
fn signed_urls_now(
    live: &LiveHandle,
    key: &bundle::grant::SigningKey,
    addr: &std::net::SocketAddr,
) -> anyhow::Result<Vec<String>> {
    let base = format!("http://{addr}");
    live.enrolled_courses().iter().map(|slug| builder::preview::signed_url(key, &base, slug)).collect()
}

/// Prints a rebuild's outcome and tells the open pages about its errors (none: cleared).
fn show(
    live: &LiveHandle,
    options: &BuildOptions,
    timings: bool,
    outcome: Result<BuildReport, BuildError>,
    change: Option<(String, Instant)>,
) {
    if let Some((summary, _)) = change.as_ref().filter(|_| outcome.is_err()) {
        eprintln!("{summary}:");
    }
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
            if timings {
                for (phase, took) in &report.phases {
                    say(format_args!("  {:>8.1} ms  {phase}", took.as_secs_f64() * 1000.0));
                }
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
            eprintln!("{}", for_terminal(&shown, live.release().is_some()));
            live.report(shown);
        }
        Err(other) => {
            eprintln!("error: building {}: {other}", options.content.display());
            live.report(vec![store_error(&options.out, &other)]);
        }
    }
}

/// `a.md`, or `a.md and 2 more` (the content root itself by its name).
fn describe(changed: &[PathBuf], root: &std::path::Path) -> String {
    let name = |path: &PathBuf| {
        if path.as_os_str().is_empty() {
            root.display().to_string()
        } else {
            path.display().to_string()
        }
    };
    match changed {
        [] => "nothing".to_owned(),
        [one] => name(one),
        [first, rest @ ..] => format!("{} and {} more", name(first), rest.len()),
    }
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    if let Err(err) = std::process::Command::new(opener).arg(url).spawn() {
        eprintln!("warning: could not open a browser ({opener}: {err}); open {url}");
    }
}
