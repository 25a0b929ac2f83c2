//! A fleet on one machine: one Garage, several `edge-origin`s following the same S3
//! channel, and Varnish edges (the repo's VCL) each balancing over all the origins. Releases
//! reach it the way an operator ships them: `course build`, then `course publish` with a
//! `--purge` per edge and a `--notify` per origin. Used by the fleet end-to-end test and by
//! `bench/fleet.sh`; everything stops when the [`Fleet`] is dropped.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::garage::{free_port, Garage, BUCKET, REGION};
use crate::varnish::Varnish;
use crate::{client, course, Origin};

/// The S3 prefix the fleet's channel lives under.
const PREFIX: &str = "fleet";
/// What every origin's grants name, so a grant issued by one opens pages at every edge.
pub const PUBLIC_URL: &str = "http://fleet.test";
pub const API_KEY: &str = "fleet-api-key";
const ADMIN_TOKEN: &str = "fleet-admin-token";
const KEY_ID: &str = "KFLEET";
/// The origin-verify secret the edges prove themselves with (edge-origin's
/// `--origin-verify-secret`, the VCL's copy): the edges cache enrolled courses behind the
/// origins' verdicts on grants.
const EDGE_SECRET: &str = "fleet-edge-secret";

#[derive(Clone, Debug)]
pub struct FleetOptions {
    pub origins: usize,
    pub edges: usize,
    /// Each origin's `--cache-bytes`.
    pub cache_bytes: String,
    /// Each origin's `--poll` of the channel (the `--notify` of a publish is the fast path).
    pub poll: String,
    /// Students on the roster of every enrolled course (`student-0`...).
    pub students: usize,
    /// Publishes and rollbacks refill the edges with what they changed (`--warm`).
    pub warm: bool,
    /// Each edge's cache size (varnishd `-s malloc,<size>`; the harness's 64m if `None`).
    pub edge_storage: Option<String>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            origins: 3,
            edges: 2,
            cache_bytes: "256MiB".into(),
            poll: "2s".into(),
            students: 200,
            warm: false,
            edge_storage: None,
        }
    }
}

pub struct Fleet {
    pub garage: Garage,
    /// `None` while killed.
    origins: Vec<Option<Origin>>,
    /// Fixed addresses (`127.0.0.1:port`): a restarted origin comes back where the edges
    /// expect it.
    origin_addrs: Vec<String>,
    pub edges: Vec<Varnish>,
    origin_args: Vec<String>,
    /// The local store `course build` writes and `course publish` reads.
    pub dist: PathBuf,
    pub rosters: PathBuf,
    warm: bool,
    _work: tempfile::TempDir,
}

/// What a `course publish` (or rollback) did, timed.
pub struct Shipped {
    pub output: Output,
    /// When the command returned.
    pub returned: Instant,
    pub took: Duration,
}

impl Shipped {
    pub fn ok(&self) -> bool {
        self.output.status.success()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

impl Fleet {
    /// Builds `content`, publishes it to a fresh Garage, then starts the origins and edges.
    pub fn start(content: &Path, options: &FleetOptions) -> Fleet {
        let work = tempfile::tempdir().expect("tempdir");
        let garage = Garage::start();
        let dist = work.path().join("dist");
        let keys = work.path().join("keys");
        let made = course()
            .args(["keys", "new", "--id", KEY_ID, "--out"])
            .arg(&keys)
            .output()
            .expect("course keys new");
        assert!(made.status.success(), "course keys new: {}", String::from_utf8_lossy(&made.stderr));
        let rosters = work.path().join("rosters.toml");
        let mut fleet = Fleet {
            garage,
            origins: Vec::new(),
            origin_addrs: (0..options.origins).map(|_| format!("127.0.0.1:{}", free_port())).collect(),
            edges: Vec::new(),
            origin_args: Vec::new(),
            dist,
            rosters,
            warm: options.warm,
            _work: work,
        };
        fleet.write_rosters(content, options.students);
        let built = fleet.build(content);
        assert!(built.status.success(), "course build: {}", String::from_utf8_lossy(&built.stderr));
        let first = fleet.publish_only();
        assert!(first.ok(), "first publish: {}", first.stderr());

        let key = |name: &str| keys.join(name).display().to_string();
        fleet.origin_args = [
            "--endpoint",
            &fleet.garage.endpoint,
            "--region",
            REGION,
            "--poll",
            &options.poll,
            "--store-timeout",
            "2s",
            "--cache-bytes",
            &options.cache_bytes,
            "--admin-token",
            ADMIN_TOKEN,
            "--api-key",
            API_KEY,
            "--signing-key",
            &key(&format!("{KEY_ID}.pem")),
            "--signing-key-pair-id",
            KEY_ID,
            "--trusted-key",
            &format!("{KEY_ID}={}", key(&format!("{KEY_ID}.pub.pem"))),
            "--rosters",
            &fleet.rosters.display().to_string(),
            "--public-url",
            PUBLIC_URL,
            "--origin-verify-secret",
            EDGE_SECRET,
            // The edges are the students' proxies: grants see the student's address.
            "--trusted-proxy",
            "127.0.0.1/32",
            "--access-log",
            "off",
            // Every student comes through two edge addresses: no per-address cap here.
            "--max-connections-per-ip",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for i in 0..options.origins {
            let origin = fleet.spawn_origin(i);
            fleet.origins.push(Some(origin));
        }
        let bases: Vec<String> = fleet.origin_bases();
        let bases: Vec<&str> = bases.iter().map(String::as_str).collect();
        let edge = crate::varnish::Options {
            origin_verify_secret: EDGE_SECRET,
            storage: options.edge_storage.as_deref(),
            ..Default::default()
        };
        fleet.edges = (0..options.edges).map(|_| Varnish::start_with(&bases, &edge)).collect();
        fleet
    }

    /// Every enrolled course of `content` gets `student-0`..`student-{n-1}` on its roster.
    fn write_rosters(&self, content: &Path, students: usize) {
        let names: Vec<String> = (0..students).map(|i| format!("\"student-{i}\"")).collect();
        let mut text = String::from("[courses]\n");
        for slug in enrolled_courses(content) {
            text.push_str(&format!("{slug} = [{}]\n", names.join(", ")));
        }
        std::fs::write(&self.rosters, text).expect("rosters");
    }

    fn store(&self) -> String {
        format!("s3://{BUCKET}/{PREFIX}")
    }

    fn spawn_origin(&self, i: usize) -> Origin {
        let args: Vec<&str> = self.origin_args.iter().map(String::as_str).collect();
        Origin::start_on_with(&OsString::from(self.store()), &self.origin_addrs[i], &args, &self.garage.env())
    }

    /// `http://127.0.0.1:port` of each origin, running or not.
    pub fn origin_bases(&self) -> Vec<String> {
        self.origin_addrs.iter().map(|a| format!("http://{a}")).collect()
    }

    pub fn edge_bases(&self) -> Vec<String> {
        self.edges.iter().map(|e| e.base.clone()).collect()
    }

    /// The running origin `i`, if it is running.
    pub fn origin(&self, i: usize) -> Option<&Origin> {
        self.origins[i].as_ref()
    }

    /// `kill -9` of origin `i`.
    pub fn kill_origin(&mut self, i: usize) {
        self.origins[i] = None; // Drop sends SIGKILL and reaps it.
    }

    /// Starts origin `i` again on its address (after [`Fleet::kill_origin`]).
    pub fn restart_origin(&mut self, i: usize) {
        assert!(self.origins[i].is_none(), "origin {i} is running");
        self.origins[i] = Some(self.spawn_origin(i));
    }

    /// The store goes away (every origin loses it) until [`Fleet::start_store`].
    pub fn stop_store(&mut self) {
        self.garage.stop();
    }

    pub fn start_store(&mut self) {
        self.garage.restart();
    }

    /// `course build --content <content> --out <dist>`.
    pub fn build(&self, content: &Path) -> Output {
        course()
            .arg("build")
            .arg("--content")
            .arg(content)
            .arg("--out")
            .arg(&self.dist)
            .output()
            .expect("build")
    }

    /// Builds `content` and publishes it, purging every edge and notifying every origin.
    pub fn ship(&self, content: &Path) -> Shipped {
        let built = self.build(content);
        assert!(built.status.success(), "course build: {}", String::from_utf8_lossy(&built.stderr));
        self.run_release_command(&["publish", "--from", &self.dist.display().to_string()], true)
    }

    /// Builds `content` and publishes it without invalidation targets: the edges keep what
    /// they hold and the origins see it at their next poll.
    pub fn ship_without_targets(&self, content: &Path) -> Shipped {
        let built = self.build(content);
        assert!(built.status.success(), "course build: {}", String::from_utf8_lossy(&built.stderr));
        self.publish_only()
    }

    /// Publishes what `dist` holds, without invalidation targets (the very first release).
    fn publish_only(&self) -> Shipped {
        self.run_release_command(&["publish", "--from", &self.dist.display().to_string()], false)
    }

    /// `course rollback` with the same targets as a publish.
    pub fn rollback(&self) -> Shipped {
        self.run_release_command(&["rollback"], true)
    }

    /// `course warm` of the live release through every edge (before the students come).
    pub fn warm_edges(&self) -> Shipped {
        let mut cmd = self.release_command(&["warm"]);
        for edge in self.edge_bases() {
            cmd.args(["--edge", &edge]);
        }
        let started = Instant::now();
        let output = cmd.output().expect("run course warm");
        Shipped { output, returned: Instant::now(), took: started.elapsed() }
    }

    fn release_command(&self, command: &[&str]) -> Command {
        let mut cmd: Command = course();
        cmd.args(command).args([
            "--store",
            &self.store(),
            "--endpoint",
            &self.garage.endpoint,
            "--region",
            REGION,
        ]);
        cmd.envs(self.garage.env());
        cmd
    }

    fn run_release_command(&self, command: &[&str], with_targets: bool) -> Shipped {
        let mut cmd = self.release_command(command);
        if with_targets && self.warm {
            cmd.arg("--warm");
        }
        if with_targets {
            for edge in self.edge_bases() {
                cmd.args(["--purge", &edge]);
            }
            for origin in self.origin_bases() {
                cmd.args(["--notify", &origin]);
            }
            cmd.args(["--notify-token", ADMIN_TOKEN]);
        }
        let started = Instant::now();
        let output = cmd.output().expect("run course");
        Shipped { output, returned: Instant::now(), took: started.elapsed() }
    }

    /// The release each edge and each running origin serves `route` from (`X-Release`),
    /// labelled `edge N` / `origin N`; `None` where it did not answer 200.
    pub fn serving(&self, route: &str) -> Vec<(String, Option<String>)> {
        let http = client();
        let ask = |base: &str| {
            let response = http.get(format!("{base}{route}")).send().ok()?;
            if response.status() != 200 {
                return None;
            }
            Some(response.headers().get("x-release")?.to_str().ok()?.to_owned())
        };
        let mut seen = Vec::new();
        for (i, edge) in self.edges.iter().enumerate() {
            seen.push((format!("edge {i}"), ask(&edge.base)));
        }
        for (i, origin) in self.origins.iter().enumerate() {
            if let Some(origin) = origin {
                seen.push((format!("origin {i}"), ask(&origin.base)));
            }
        }
        seen
    }

    /// Waits until every edge and running origin serves `route` from `release`; the time it
    /// took from `since`, or `None` after `within`.
    pub fn time_until_serving(
        &self,
        route: &str,
        release: &str,
        since: Instant,
        within: Duration,
    ) -> Option<Duration> {
        let deadline = since + within;
        loop {
            if self.serving(route).iter().all(|(_, r)| r.as_deref() == Some(release)) {
                return Some(since.elapsed());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The live release id in `dist` (what the last build wrote).
    pub fn built_release(&self) -> String {
        crate::live_manifest(&self.dist).0
    }
}

/// Slugs of the enrolled courses in `content` (`access = "enrolled"` in `course.toml`).
pub fn enrolled_courses(content: &Path) -> Vec<String> {
    let mut slugs = Vec::new();
    let Ok(dirs) = std::fs::read_dir(content.join("courses")) else { return slugs };
    for dir in dirs.filter_map(Result::ok) {
        let toml = std::fs::read_to_string(dir.path().join("course.toml")).unwrap_or_default();
        let enrolled = toml.lines().any(|l| {
            let l = l.replace(' ', "");
            l == "access=\"enrolled\""
        });
        if enrolled {
            slugs.push(dir.file_name().to_string_lossy().into_owned());
        }
    }
    slugs.sort();
    slugs
}
