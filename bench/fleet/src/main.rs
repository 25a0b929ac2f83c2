//! `fleet`: the fleet benchmark's command line.
//!
//! ```text
//! fleet spike|day --content DIR [--quick] [--json FILE]   (a markdown table on stdout)
//! fleet replay --edge http://127.0.0.1:6081 [--edge URL]... (--store DIR | --manifest FILE)
//!              [--plan "20,2s;200,3s;200,20s;20,3s"] [--grants URL --api-key K --rosters FILE]
//!              [--returning-share 0.3] [--seed 1] [--out replay-report.json]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fleet::replay::{self, Catalogue, Grants, ReplayConfig};
use fleet::scenario::Scenario;

#[derive(Parser)]
#[command(name = "fleet", about = "The fleet benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay students against edges and write the report as JSON.
    Replay(ReplayArgs),
    /// The event-week spike on a fleet started here (scenario.rs).
    Spike(ScenarioArgs),
    /// A school day on a fleet started here (scenario.rs).
    Day(ScenarioArgs),
}

#[derive(clap::Args)]
struct ScenarioArgs {
    /// The content to build and serve (copied: releases edit the copy).
    #[arg(long)]
    content: PathBuf,
    /// Shorter holds and fewer students.
    #[arg(long)]
    quick: bool,
    /// Also write the whole report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Base URL of an edge (repeat for several; students are spread over them).
    #[arg(long = "edge", required = true)]
    edges: Vec<String>,
    /// A local store: the release its `live` channel points at is the catalogue.
    #[arg(long, conflicts_with = "manifest", required_unless_present = "manifest")]
    store: Option<PathBuf>,
    /// A release manifest (`releases/<id>.json`) as the catalogue.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// goose test plan: `users,ramp;users,ramp;...`.
    #[arg(long, default_value = "20,2s;200,3s;200,20s;20,3s")]
    plan: String,
    /// Base URL of the origin issuing grants for enrolled courses.
    #[arg(long, requires_all = ["api_key", "rosters"])]
    grants: Option<String>,
    /// Its API key.
    #[arg(long, env = "FLEET_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The origin's rosters file (`[courses] slug = ["student", ...]`).
    #[arg(long)]
    rosters: Option<PathBuf>,
    #[arg(long, default_value_t = 0.3)]
    returning_share: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the report (not stdout: goose prints its "N users launched" there).
    #[arg(long, default_value = "replay-report.json")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Replay(args) => replay_command(args),
        Command::Spike(args) => {
            let scenario = if args.quick {
                Scenario::spike(10, Duration::from_secs(60), false)
            } else {
                Scenario::spike(30, Duration::from_secs(150), false)
            };
            scenario_command(&scenario, &args)
        }
        Command::Day(args) => {
            let scenario = if args.quick {
                Scenario::day(60, Duration::from_secs(80))
            } else {
                // 200 users at the peak brought 13,305 students in a run: 300 for the day's 20,000.
                Scenario::day(300, Duration::from_secs(240))
            };
            scenario_command(&scenario, &args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet: {e}");
            ExitCode::from(2)
        }
    }
}

fn scenario_command(scenario: &Scenario, args: &ScenarioArgs) -> Result<(), String> {
    let report = fleet::scenario::run(scenario, &args.content)?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    // goose prints a line of its own on stdout: the table follows a blank line.
    println!("\n{}", fleet::table::markdown(&report));
    Ok(())
}

fn replay_command(args: ReplayArgs) -> Result<(), String> {
    let manifest = match (&args.store, &args.manifest) {
        (Some(store), _) => live_manifest(store)?,
        (None, Some(path)) => {
            let bytes = read(path)?;
            bundle::Manifest::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
        }
        (None, None) => return Err("--store or --manifest is needed".into()),
    };
    let mut config = ReplayConfig::new(args.edges, Catalogue::from_manifest(&manifest), &args.plan);
    config.returning_share = args.returning_share;
    config.seed = args.seed;
    if let (Some(endpoint), Some(api_key), Some(rosters)) = (args.grants, args.api_key, args.rosters) {
        config.grants =
            Some(Grants { endpoint, api_key, rosters: read_rosters(&rosters)?, ttl: "15m".into() });
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("tokio runtime: {e}"))?;
    let report = runtime.block_on(replay::run(config))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&args.out, json + "\n").map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!(
        "fleet replay: {} requests, {} errors {:?}, pages p50 {:.1} ms p99 {:.1} ms",
        report.requests_total,
        report.errors_total,
        report.errors_by_cause,
        report.latency_pages.p50_ms,
        report.latency_pages.p99_ms
    );
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn live_manifest(store: &Path) -> Result<bundle::Manifest, String> {
    let pointer = read(&store.join("channels/live.json"))?;
    let channel = bundle::Channel::from_bytes(&pointer).map_err(|e| format!("channel pointer: {e}"))?;
    let path = store.join(format!("releases/{}.json", channel.release));
    bundle::Manifest::verified(&read(&path)?, &channel.release)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn read_rosters(path: &Path) -> Result<std::collections::BTreeMap<String, Vec<String>>, String> {
    #[derive(serde::Deserialize)]
    struct Rosters {
        courses: std::collections::BTreeMap<String, Vec<String>>,
    }
    let text = String::from_utf8(read(path)?).map_err(|_| format!("{}: not UTF-8", path.display()))?;
    let rosters: Rosters = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(rosters.courses)
}
