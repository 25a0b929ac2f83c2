//! The publish benchmark's driver (bench/publish.sh builds and runs it): `course publish`
//! vs `aws s3 sync` against one Garage on loopback, side by side in the same run:
//! 1. the first publish of a built catalogue;
//! 2. a re-publish after a one-lesson edit (ours: rebuilt into the same store; the peer: the
//!    new release's files in a fresh directory, so every file is new to sync's mtime check).
//!
//! Prints one markdown table on stdout, progress on stderr. Garage is stopped when this
//! exits (Drop); every temporary file lives under `--work`.
//!
//! ```text
//! bench_publish --course PATH --content DIR --work DIR [--aws aws] [--label TEXT]
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use e2e::garage::{Garage, BUCKET, REGION};

type Result<T> = std::result::Result<T, String>;

const OURS: &str = "ours";
const PEER: &str = "peer";
/// `course publish --concurrency`'s default; the peer gets the same number of requests in
/// flight and the same multipart threshold, so the comparison is of the tools, not knobs.
const CONCURRENCY: usize = builder::release::publish::DEFAULT_CONCURRENCY;
const MULTIPART_MIB: u64 = builder::release::publish::DEFAULT_MULTIPART_THRESHOLD >> 20;
const EDIT: &str = "\nA sentence added by the publish benchmark.\n";

struct Args {
    course: PathBuf,
    aws: String,
    content: PathBuf,
    work: PathBuf,
    label: String,
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    let (mut course, mut content, mut work, mut aws, mut label) = (None, None, None, None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--course" => course = Some(PathBuf::from(value()?)),
            "--content" => content = Some(PathBuf::from(value()?)),
            "--work" => work = Some(PathBuf::from(value()?)),
            "--aws" => aws = Some(value()?),
            "--label" => label = Some(value()?),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let content = content.ok_or("--content is required")?;
    Ok(Args {
        course: course.ok_or("--course is required")?,
        label: label.unwrap_or_else(|| content.display().to_string()),
        content,
        work: work.ok_or("--work is required")?,
        aws: aws.unwrap_or_else(|| "aws".to_owned()),
    })
}

fn log(msg: impl std::fmt::Display) {
    eprintln!("[publish-bench] {msg}");
}

/// A finished command: when it started, wall time (spawn to exit), stdout, and each stderr
/// line with the time it arrived (to split our publish into phases).
struct Run {
    started: SystemTime,
    wall: Duration,
    stdout: String,
    stderr: Vec<(Duration, String)>,
}

fn run(what: &str, cmd: &mut Command) -> Result<Run> {
    let (started, start) = (SystemTime::now(), Instant::now());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: cannot start {:?}: {e}", cmd.get_program()))?;
    let stderr = child.stderr.take().ok_or("no stderr pipe")?;
    // Both pipes are drained at once: sync prints a line per file and would block on a full pipe.
    let errors = std::thread::spawn(move || {
        BufReader::new(stderr).lines().map_while(|l| l.ok()).map(|l| (start.elapsed(), l)).collect::<Vec<_>>()
    });
    let mut stdout = String::new();
    child.stdout.take().ok_or("no stdout pipe")?.read_to_string(&mut stdout).map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    let wall = start.elapsed();
    let stderr = errors.join().map_err(|_| "stderr reader panicked")?;
    if !status.success() {
        let tail: Vec<&str> = stderr.iter().rev().take(15).rev().map(|(_, l)| l.as_str()).collect();
        return Err(format!("{what} failed ({status}):\n{stdout}{}", tail.join("\n")));
    }
    Ok(Run { started, wall, stdout, stderr })
}

/// `course build`; returns the release id it printed and its wall time.
fn build(course: &Path, content: &Path, out: &Path) -> Result<(String, Duration)> {
    let r = run(
        "course build",
        Command::new(course).arg("build").arg("--content").arg(content).arg("--out").arg(out),
    )?;
    let release = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("release "))
        .ok_or_else(|| format!("no release id in course build's output:\n{}", r.stdout))?;
    Ok((release.trim().to_owned(), r.wall))
}

/// Key (relative to `prefix/`) -> (ETag, size, last modified), every page of ListObjectsV2.
type Listing = BTreeMap<String, (String, u64, Option<SystemTime>)>;

fn list(rt: &tokio::runtime::Runtime, client: &aws_sdk_s3::Client, prefix: &str) -> Result<Listing> {
    rt.block_on(async {
        let full = format!("{prefix}/");
        let mut pages = client.list_objects_v2().bucket(BUCKET).prefix(&full).into_paginator().send();
        let mut listing = Listing::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| format!("listing {full}: {e:?}"))?;
            for o in page.contents() {
                let Some(key) = o.key().and_then(|k| k.strip_prefix(&full)) else { continue };
                let size = o.size().unwrap_or_default().max(0) as u64;
                let modified = o.last_modified().and_then(|t| SystemTime::try_from(*t).ok());
                listing.insert(key.to_owned(), (o.e_tag().unwrap_or_default().to_owned(), size, modified));
            }
        }
        Ok(listing)
    })
}

/// Keys written between two listings (new, or with a new ETag): what a publish uploaded.
fn written(before: &Listing, after: &Listing) -> Vec<(String, u64)> {
    after
        .iter()
        .filter(|(k, (etag, ..))| !matches!(before.get(*k), Some((e, ..)) if e == etag))
        .map(|(k, (_, size, _))| (k.clone(), *size))
        .collect()
}

/// Counts store keys by kind, e.g. "160 objects + manifest + pointer + claim".
fn kinds(keys: &[(String, u64)]) -> String {
    let (mut objects, mut manifests, mut pointers, mut claims, mut other) = (0, 0, 0, 0, 0);
    for (key, _) in keys {
        if key.starts_with("objects/") {
            objects += 1;
        } else if key.starts_with("releases/") {
            manifests += 1;
        } else if key.starts_with("channels/") && key.contains(".claims/") {
            claims += 1;
        } else if key.starts_with("channels/") {
            pointers += 1;
        } else {
            other += 1;
        }
    }
    let mut parts = vec![format!("{} objects", count(objects))];
    for (n, name) in [(manifests, "manifest"), (pointers, "pointer"), (claims, "claim"), (other, "other")] {
        match n {
            0 => {}
            1 => parts.push(name.to_owned()),
            n => parts.push(format!("{n} {name}s")),
        }
    }
    parts.join(" + ")
}

/// `aws s3 sync` of `store` (minus the build cache) to `s3://BUCKET/PEER`; returns the run
/// and the files it uploaded (its `upload:` lines) with their local sizes.
fn sync(args: &Args, garage: &Garage, config: &Path, store: &Path) -> Result<(Run, Vec<(String, u64)>)> {
    let target = format!("s3://{BUCKET}/{PEER}");
    let r = run(
        "aws s3 sync",
        Command::new(&args.aws)
            .args(["s3", "sync", "--no-progress", "--exclude", ".build-cache/*"])
            .arg(store)
            .args([&target, "--endpoint-url", &garage.endpoint])
            .envs(garage.env())
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_CONFIG_FILE", config)
            // Only the credentials in the environment: nothing from the user's ~/.aws.
            .env("AWS_SHARED_CREDENTIALS_FILE", config.with_file_name("no-credentials"))
            .env_remove("AWS_PROFILE"),
    )?;
    let mut uploads = Vec::new();
    for line in r.stdout.lines().filter(|l| l.starts_with("upload: ")) {
        let rel = line
            .rsplit_once(&format!(" {target}/"))
            .map(|(_, rel)| rel)
            .ok_or_else(|| format!("unexpected sync output line: {line}"))?;
        let size = std::fs::metadata(store.join(rel)).map_err(|e| format!("{rel}: {e}"))?.len();
        uploads.push((rel.to_owned(), size));
    }
    Ok((r, uploads))
}

/// `course publish` of `store` to `s3://BUCKET/OURS`.
fn publish(args: &Args, garage: &Garage, store: &Path) -> Result<Run> {
    run(
        "course publish",
        Command::new(&args.course)
            .args(["publish", "--store", &format!("s3://{BUCKET}/{OURS}"), "--endpoint", &garage.endpoint])
            .args(["--region", REGION, "--concurrency", &CONCURRENCY.to_string(), "--from"])
            .arg(store)
            .envs(garage.env())
            .env("RUST_LOG", "info"),
    )
}

/// Where our publish spent its time: until its "publish plan" log line (start, stat the
/// local objects, read the remote pointer, list remote objects), until the last object it
/// wrote was stored, until the pointer was stored (manifest, HEAD-verify of each upload,
/// claim, flip), until exit. The store's LastModified (ms, same clock) times the writes.
fn phases(r: &Run, listing: &Listing, keys: &[(String, u64)]) -> String {
    let since = |t: SystemTime| t.duration_since(r.started).unwrap_or_default();
    let plan = r.stderr.iter().find(|(_, l)| l.contains("publish plan")).map(|(t, _)| *t);
    let modified = |pick: &dyn Fn(&str) -> bool| {
        keys.iter().filter(|(k, _)| pick(k)).filter_map(|(k, _)| listing.get(k).and_then(|e| e.2)).max()
    };
    let objects = modified(&|k| k.starts_with("objects/")).map(since);
    let pointer = modified(&|k| k.starts_with("channels/") && !k.contains(".claims/")).map(since);
    let mut parts = Vec::new();
    let mut at = Duration::ZERO;
    for (when, what) in [
        (plan, "to the upload plan (start, stat local objects, read pointer, list remote objects)"),
        (objects, "uploading objects"),
        (pointer, "manifest + HEAD-verify of each upload + claim + flip"),
        (Some(r.wall), "invalidation plan and exit"),
    ] {
        if let Some(t) = when.filter(|t| *t >= at) {
            parts.push(format!("{} {what}", secs(t - at)));
            at = t;
        }
    }
    parts.join(", ")
}

/// The files and bytes `aws s3 sync` would consider: the store minus `.build-cache`.
fn store_size(store: &Path) -> (usize, u64) {
    let (mut files, mut bytes) = (0, 0);
    for top in ["objects", "releases", "channels"] {
        for e in walkdir::WalkDir::new(store.join(top)).into_iter().filter_map(|e| e.ok()) {
            if e.file_type().is_file() {
                files += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or_default();
            }
        }
    }
    (files, bytes)
}

/// Copies what a build of the live release into an empty store writes (its objects, its
/// manifest, the channel pointer) from `store` to `to`: the same bytes with new mtimes, so
/// `aws s3 sync` sees every file as newer than the bucket's copy. Returns the release id,
/// files copied and the time taken.
fn copy_release(store: &Path, to: &Path) -> Result<(String, usize, Duration)> {
    let start = Instant::now();
    let (release, manifest) = e2e::live_manifest(store);
    let mut files =
        vec![bundle::paths::release_path(&manifest.release_id()), "channels/live.json".to_owned()];
    files.extend(manifest.objects().into_iter().map(bundle::paths::object_path));
    for rel in &files {
        let target = to.join(rel);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::copy(store.join(rel), &target).map_err(|e| format!("copy {rel}: {e}"))?;
    }
    Ok((release, files.len(), start.elapsed()))
}

/// (total, idle) jiffies of all CPUs, from /proc/stat.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    Some((v.iter().sum(), v.get(3)? + v.get(4).unwrap_or(&0)))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The lesson to edit: the first `courses/<course>/<lesson>.md`, by path.
fn lesson_to_edit(content: &Path) -> Result<PathBuf> {
    let mut lessons: Vec<PathBuf> = walkdir::WalkDir::new(content.join("courses"))
        .min_depth(2)
        .max_depth(2)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    lessons.sort();
    lessons.into_iter().next().ok_or_else(|| format!("no lesson .md under {}/courses", content.display()))
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

fn count(n: usize) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    digits.rchunks(3).rev().map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join(",")
}

fn ratio(peer: f64, ours: f64) -> String {
    if ours > 0.0 {
        format!("{:.2}x", peer / ours)
    } else {
        "-".to_owned()
    }
}

fn total(files: &[(String, u64)]) -> u64 {
    files.iter().map(|(_, s)| s).sum()
}

fn version(program: &str, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(if o.stdout.is_empty() { &o.stderr } else { &o.stdout }).into_owned()
        })
        .and_then(|v| v.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench_publish: {e}");
            return ExitCode::from(2);
        }
    };
    match bench(&args) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log(format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &Args) -> Result<String> {
    use std::fmt::Write as _;

    let content = args.work.join("content");
    let store = args.work.join("store");
    let fresh = args.work.join("store-fresh");
    log(format!("copying {} to {}", args.content.display(), content.display()));
    e2e::copy_tree(&args.content, &content);
    log("building the catalogue");
    let (first_release, first_build) = build(&args.course, &content, &store)?;
    let (store_files, store_bytes) = store_size(&store);
    log(format!(
        "release {first_release}: {} files, {} in {} (build {})",
        count(store_files),
        bytes(store_bytes),
        store.display(),
        secs(first_build)
    ));

    log("starting Garage on 127.0.0.1");
    let garage = Garage::start();
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let client = rt.block_on(garage.client());
    // A few writes first, so neither side pays for the node's first requests.
    for n in 0..8 {
        garage.put_blocking(&format!("warmup/{n}"), vec![b'x'; 1024]);
    }

    let aws_config = args.work.join("aws-config");
    std::fs::write(
        &aws_config,
        format!(
            "[default]\nregion = {REGION}\ns3 =\n  addressing_style = path\n  max_concurrent_requests = \
             {CONCURRENCY}\n  multipart_threshold = {MULTIPART_MIB}MB\n"
        ),
    )
    .map_err(|e| e.to_string())?;

    // Everything on the box shares 2 cores: how busy they were says how noisy the times are.
    let (cpu_before, load_before) = (cpu_jiffies(), load_average());

    // 1. First publish. The peer goes first: it gets the emptier bucket, ours the fuller one.
    log(format!("1. first publish: aws s3 sync -> s3://{BUCKET}/{PEER}"));
    let (peer1, peer1_files) = sync(args, &garage, &aws_config, &store)?;
    log(format!("   {} files in {}", peer1_files.len(), secs(peer1.wall)));
    log(format!("1. first publish: course publish -> s3://{BUCKET}/{OURS}"));
    let before = list(&rt, &client, OURS)?;
    let ours1 = publish(args, &garage, &store)?;
    let ours_listing = list(&rt, &client, OURS)?;
    let ours1_keys = written(&before, &ours_listing);
    log(format!("   {} keys in {}", ours1_keys.len(), secs(ours1.wall)));
    // Fairness check: both prefixes hold the same objects and manifest.
    // (Our pointer is not the local file: publish writes its own, with a sequence number.)
    let peer_listing = list(&rt, &client, PEER)?;
    let pointer = |k: &String| k.starts_with("channels/");
    let ours_files: BTreeMap<&String, u64> =
        ours_listing.iter().filter(|(k, _)| !pointer(k)).map(|(k, (_, s, _))| (k, *s)).collect();
    let peer_files: BTreeMap<&String, u64> =
        peer_listing.iter().filter(|(k, _)| !pointer(k)).map(|(k, (_, s, _))| (k, *s)).collect();
    let same = if ours_files == peer_files {
        format!("yes, the same {} object and manifest keys with the same sizes", count(ours_files.len()))
    } else {
        let mut differ: Vec<&&String> =
            ours_files.keys().filter(|k| ours_files.get(*k) != peer_files.get(*k)).collect();
        differ.extend(peer_files.keys().filter(|k| !ours_files.contains_key(*k)));
        format!("NO: {} keys differ, e.g. {:?}", differ.len(), differ.iter().take(3).collect::<Vec<_>>())
    };

    // 2. One-lesson edit.
    let lesson = lesson_to_edit(&content)?;
    let text = std::fs::read_to_string(&lesson).map_err(|e| format!("{}: {e}", lesson.display()))?;
    std::fs::write(&lesson, format!("{text}{EDIT}")).map_err(|e| e.to_string())?;
    let lesson_name = lesson.strip_prefix(&content).unwrap_or(&lesson).display().to_string();
    log(format!("2. edited {lesson_name}; rebuilding into the same store"));
    let (second_release, rebuild) = build(&args.course, &content, &store)?;
    if second_release == first_release {
        return Err("the edit did not change the release".to_owned());
    }
    log(format!("2. re-publish: course publish (release {second_release}, rebuild {})", secs(rebuild)));
    let before = list(&rt, &client, OURS)?;
    let ours2 = publish(args, &garage, &store)?;
    let ours2_listing = list(&rt, &client, OURS)?;
    let ours2_keys = written(&before, &ours2_listing);
    let invalidation = ours2
        .stdout
        .lines()
        .find(|l| l.starts_with("invalidation: "))
        .ok_or_else(|| format!("no invalidation plan in publish's output:\n{}", ours2.stdout))?;
    let inv_count: usize = invalidation
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("cannot read {invalidation:?}"))?;
    let inv_paths = invalidation.split_once(": ").and_then(|(_, r)| r.split_once(':')).map_or("", |(_, p)| p);
    let objects_reported =
        ours2.stdout.lines().find(|l| l.starts_with("uploaded ")).unwrap_or("?").to_owned();
    log(format!("   {objects_reported}"));

    // The peer's best case first (the in-place store keeps unchanged files' mtimes), then
    // the fresh rebuild the table reports (every file newer than what the bucket holds).
    log("2. re-publish: aws s3 sync of the same store (best case: unchanged files keep their mtimes)");
    let (peer2_inplace, peer2_inplace_files) = sync(args, &garage, &aws_config, &store)?;
    log("2. fresh store: the new release's files copied into an empty directory (new mtimes)");
    let (fresh_release, fresh_files, fresh_time) = copy_release(&store, &fresh)?;
    if fresh_release != second_release {
        return Err(format!("the fresh store holds release {fresh_release}, not {second_release}"));
    }
    log(format!(
        "2. re-publish: aws s3 sync of the fresh store ({} files copied in {})",
        count(fresh_files),
        secs(fresh_time)
    ));
    let (peer2, peer2_files) = sync(args, &garage, &aws_config, &fresh)?;
    log(format!("   {} files in {}", peer2_files.len(), secs(peer2.wall)));

    let busy = match (cpu_before, cpu_jiffies()) {
        (Some((t0, i0)), Some((t1, i1))) if t1 > t0 => {
            format!("{:.0}%", 100.0 * (1.0 - (i1 - i0) as f64 / (t1 - t0) as f64))
        }
        _ => "?".to_owned(),
    };

    let mut t = String::new();
    let w = &mut t;
    let _ = writeln!(w, "## Publish benchmark: `course publish` vs `aws s3 sync`, on Garage\n");
    let _ = writeln!(
        w,
        "Catalogue: {}; store {} files, {} (objects/, releases/, channels/; .build-cache excluded); \
         release {first_release}, then {second_release} after editing `{lesson_name}`.\n",
        args.label,
        count(store_files),
        bytes(store_bytes)
    );
    let _ = writeln!(w, "| measure | ours: `course publish` | peer: `aws s3 sync` | ratio (peer / ours) |");
    let _ = writeln!(w, "|---|---:|---:|---:|");
    let f = |d: Duration| d.as_secs_f64();
    let _ = writeln!(
        w,
        "| 1. first publish: wall time | {} | {} | **{}** |",
        secs(ours1.wall),
        secs(peer1.wall),
        ratio(f(peer1.wall), f(ours1.wall))
    );
    let _ = writeln!(
        w,
        "| 1. first publish: keys written | {} ({}) | {} ({}) | {} |",
        count(ours1_keys.len()),
        kinds(&ours1_keys),
        count(peer1_files.len()),
        kinds(&peer1_files),
        ratio(peer1_files.len() as f64, ours1_keys.len() as f64)
    );
    let _ = writeln!(
        w,
        "| 1. first publish: bytes written | {} | {} | {} |",
        bytes(total(&ours1_keys)),
        bytes(total(&peer1_files)),
        ratio(total(&peer1_files) as f64, total(&ours1_keys) as f64)
    );
    let _ = writeln!(
        w,
        "| 2. re-publish after a one-lesson edit: wall time | {} | {} | **{}** |",
        secs(ours2.wall),
        secs(peer2.wall),
        ratio(f(peer2.wall), f(ours2.wall))
    );
    let _ = writeln!(
        w,
        "| 2. re-publish: keys written | {} ({}) | {} ({}) | {} |",
        count(ours2_keys.len()),
        kinds(&ours2_keys),
        count(peer2_files.len()),
        kinds(&peer2_files),
        ratio(peer2_files.len() as f64, ours2_keys.len() as f64)
    );
    let _ = writeln!(
        w,
        "| 2. re-publish: bytes written | {} | {} | {} |",
        bytes(total(&ours2_keys)),
        bytes(total(&peer2_files)),
        ratio(total(&peer2_files) as f64, total(&ours2_keys) as f64)
    );
    let _ = writeln!(
        w,
        "| 2. re-publish: invalidation paths | {inv_count}:{inv_paths} | none (sync has no notion of routes) | |"
    );

    let content_objects = ours2_keys.iter().filter(|(k, _)| k.starts_with("objects/")).count();
    let first_ratio = f(peer1.wall) / f(ours1.wall);
    let pass = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let _ = writeln!(
        w,
        "\nTargets: first publish >= 1.5x faster: {} ({first_ratio:.2}x); re-publish uploads <= 5 objects: {} \
         ({content_objects} content objects, `{objects_reported}`); re-publish < 3 s: {} ({}).\n",
        pass(first_ratio >= 1.5),
        pass(content_objects <= 5),
        pass(ours2.wall < Duration::from_secs(3)),
        secs(ours2.wall)
    );
    let _ = writeln!(w, "- Same files in both prefixes after step 1 (besides channels/): {same}.");
    let _ = writeln!(w, "- Our first publish: {}.", phases(&ours1, &ours_listing, &ours1_keys));
    let _ = writeln!(w, "- Our re-publish: {}.", phases(&ours2, &ours2_listing, &ours2_keys));
    let _ = writeln!(
        w,
        "- Peer's best case in step 2, `aws s3 sync` of the rebuilt-in-place store (unchanged files keep \
         their mtimes): {} files ({}; {}) in {}; the table's peer figure syncs a fresh store: the new release's {} files (what `course build` writes \
         into an empty directory) copied, byte for byte, with new mtimes, as a CI checkout + build would \
         have them (a copy, not a second full build, to keep the run short).",
        peer2_inplace_files.len(),
        kinds(&peer2_inplace_files),
        bytes(total(&peer2_inplace_files)),
        secs(peer2_inplace.wall),
        count(fresh_files)
    );
    let _ = writeln!(
        w,
        "- Builds (not timed in the table): first {}, in-place rebuild after the edit {}.",
        secs(first_build),
        secs(rebuild)
    );
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let _ = writeln!(
        w,
        "- Setup: one Garage node ({}) on 127.0.0.1, one bucket, prefixes `{OURS}/` and `{PEER}/`; the peer \
         synced first in step 1. Ours: --concurrency {CONCURRENCY}, multipart above {MULTIPART_MIB} MiB, a \
         SHA-256 checksum per object. Peer: {}, max_concurrent_requests = {CONCURRENCY}, \
         multipart_threshold = {MULTIPART_MIB}MB, path-style. Wall times include process start. \
         {} CPUs, {cpu}.",
        version("garage", "--version"),
        version(&args.aws, "--version"),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(
        w,
        "- Box load during the measurements: CPUs {busy} busy on average (everything on the box, this \
         benchmark included); 1-min load average {load_before} at the start, {} at the end. Other \
         processes sharing the cores slow both sides: compare the ratios more than the absolute times.",
        load_average()
    );
    drop(garage);
    Ok(t)
}
