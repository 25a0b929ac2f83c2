//! Varnish in front of one or more [`crate::Origin`]s, configured by the VCL the repo ships
//! (`edge-origin/deploy/varnish.vcl`) with only its block of origins rewritten (one
//! backend per origin, all in its director) and the CDN's secret set.

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{client, require_tool, root};

/// A running `varnishd`, stopped (and its working directory removed) when dropped.
pub struct Varnish {
    pub base: String,
    child: Child,
    dir: tempfile::TempDir,
}

/// What a test changes in the shipped VCL besides its origins.
#[derive(Clone, Debug, Default)]
pub struct Options<'a> {
    /// The CDN's origin-verify secret (as an operator sets it when a CDN sits in front of
    /// this edge); "" leaves it unset.
    pub origin_verify_secret: &'a str,
    /// How long stale objects are served while an origin is healthy, instead of the VCL's
    /// 60s (so a test can get past it without waiting a minute).
    pub healthy_grace: Option<Duration>,
    /// The cache's size (`-s malloc,<size>`): 64m unless given.
    pub storage: Option<&'a str>,
}

impl Varnish {
    /// Starts varnishd on a free loopback port in front of `origin_base`
    /// (`http://host:port`) and waits until it answers through to the origin.
    pub fn start(origin_base: &str) -> Varnish {
        Varnish::start_many(&[origin_base])
    }

    /// Like [`Varnish::start`], with the CDN's origin-verify secret set in the VCL (as an
    /// operator does when a CDN sits in front of this edge); "" leaves it unset.
    pub fn start_behind_cdn(origin_base: &str, origin_verify_secret: &str) -> Varnish {
        Varnish::start_with(&[origin_base], &Options { origin_verify_secret, ..Options::default() })
    }

    /// Starts varnishd balancing over every origin in `origin_bases` (`http://host:port`
    /// each; backends `origin_1`.. in that order) and waits until its probes found every
    /// one of them healthy.
    pub fn start_many(origin_bases: &[&str]) -> Varnish {
        Varnish::start_with(origin_bases, &Options::default())
    }

    /// [`Varnish::start_many`] with [`Options`].
    pub fn start_with(origin_bases: &[&str], options: &Options<'_>) -> Varnish {
        let varnishd = require_tool("varnishd", "apt-get install -y varnish");
        assert!(!origin_bases.is_empty(), "Varnish needs at least one origin");
        let origins: Vec<(String, String)> = origin_bases
            .iter()
            .map(|base| {
                let (host, port) = base
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .rsplit_once(':')
                    .unwrap_or_else(|| panic!("origin base `{base}` has no port"));
                (host.to_owned(), port.to_owned())
            })
            .collect();

        let dir = tempfile::tempdir().expect("tempdir");
        // As root, varnishd's worker runs as an unprivileged user that must reach `n/`.
        set_mode_755(dir.path());
        let vcl = dir.path().join("varnish.vcl");
        assert!(vcl.is_absolute(), "varnishd needs an absolute VCL path");
        std::fs::write(&vcl, configured_vcl(&origins, options)).expect("write vcl");

        let mut last_log = String::new();
        // The free port can be taken between probing and binding it; try another then.
        for _attempt in 0..3 {
            let listen_port = free_port();
            let log_path = dir.path().join("varnishd.log");
            let log = File::create(&log_path).expect("varnishd log");
            let mut child = Command::new(&varnishd)
                .arg("-F")
                .arg("-n")
                .arg(dir.path().join("n"))
                .arg("-a")
                .arg(format!("127.0.0.1:{listen_port}"))
                .arg("-f")
                .arg(&vcl)
                .args(["-s", &format!("malloc,{}", options.storage.unwrap_or("64m"))])
                // As the VCL's header advises: room for a large object may take evicting
                // more than the default 50 small ones (else that fetch fails with a 503).
                .args(["-p", "nuke_limit=1000", "-p", "default_ttl=0"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log fd"))
                .stderr(log)
                .spawn()
                .expect("start varnishd");
            let base = format!("http://127.0.0.1:{listen_port}");
            if wait_ready(&mut child, &base, Duration::from_secs(30)) {
                let varnish = Varnish { base, child, dir };
                varnish.wait_origins_healthy(&vec![true; origins.len()], Duration::from_secs(15));
                return varnish;
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            stop(&mut child);
        }
        panic!("varnishd did not come up:\n{last_log}")
    }

    /// What the probes say of each origin, in the order given at start (`origin_1`..):
    /// true for healthy (from `varnishadm backend.list`).
    pub fn origins_healthy(&self) -> Vec<bool> {
        let output = Command::new("varnishadm")
            .arg("-n")
            .arg(self.dir.path().join("n"))
            .arg("backend.list")
            .output()
            .expect("run varnishadm");
        let text = String::from_utf8_lossy(&output.stdout);
        let mut backends: Vec<(usize, bool)> = text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let name = words.next()?;
                let n = name.rsplit_once(".origin_")?.1.parse().ok()?;
                Some((n, words.any(|w| w == "healthy")))
            })
            .collect();
        backends.sort_unstable();
        backends.into_iter().map(|(_, healthy)| healthy).collect()
    }

    /// Waits (at most `within`) until [`Varnish::origins_healthy`] is `expected`.
    pub fn wait_origins_healthy(&self, expected: &[bool], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now = self.origins_healthy();
            if now == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "origins' health is {now:?}, not {expected:?}, after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `PURGE <path>` from localhost; returns the status.
    pub fn purge(&self, path: &str) -> u16 {
        let method = reqwest::Method::from_bytes(b"PURGE").expect("method");
        client()
            .request(method, self.url(path))
            .send()
            .unwrap_or_else(|e| panic!("PURGE {path}: {e}"))
            .status()
            .as_u16()
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        stop(&mut self.child);
        // `dir` is removed when the field drops, after varnishd has exited.
    }
}

/// True once a request goes through Varnish to a ready origin; false if varnishd exited
/// or `within` passed.
fn wait_ready(child: &mut Child, base: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let http = client();
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        if let Ok(response) = http.get(format!("{base}/_origin/ready")).send() {
            if response.status() == 200 {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// SIGTERM lets the manager stop its worker process too; SIGKILL if it lingers.
fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The marked block of `edge-origin/deploy/varnish.vcl` where operators list origins.
const ORIGINS_BEGIN: &str = "# ==== ORIGINS:";
const ORIGINS_END: &str = "# ==== END ORIGINS ====";

/// The repo's VCL with its block of origins listing `origins` (host, port) and the
/// options set. Every text it replaces must be there exactly once.
fn configured_vcl(origins: &[(String, String)], options: &Options<'_>) -> String {
    let path = root().join("edge-origin/deploy/varnish.vcl");
    let vcl = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let once = |text: &str, what: &str| {
        assert_eq!(text.matches(what).count(), 1, "the VCL should contain `{what}` exactly once");
    };
    let replace_once = |text: &str, from: &str, to: &str| {
        once(text, from);
        text.replace(from, to)
    };
    once(&vcl, ORIGINS_BEGIN);
    once(&vcl, ORIGINS_END);
    let begin = vcl.find(ORIGINS_BEGIN).expect("begin");
    let end = vcl.find(ORIGINS_END).expect("end");
    assert!(begin < end, "the VCL's origins block ends before it begins");
    let block = &vcl[begin..end];
    // The shipped block is one backend, `origin_1`, and its add_backend: the template for
    // every origin (same probe and timeouts).
    const NAME: &str = "origin_1";
    let backend_start =
        block.find("backend origin_1 {").expect("the origins block declares `backend origin_1 {`");
    once(block, "\nbackend ");
    let backend_len = block[backend_start..].find("\n}\n").expect("the backend's closing `}`") + 3;
    let backend = &block[backend_start..backend_start + backend_len];
    once(backend, r#".host = "127.0.0.1";"#);
    once(backend, r#".port = "8080";"#);
    once(block, "origins.add_backend(origin_1);");
    once(block, "origins.add_backend(");

    let mut backends = String::new();
    let mut adds = String::new();
    for (i, (host, port)) in origins.iter().enumerate() {
        let name = format!("origin_{}", i + 1);
        backends += &backend
            .replace(&format!("backend {NAME} "), &format!("backend {name} "))
            .replace(r#".host = "127.0.0.1";"#, &format!(r#".host = "{host}";"#))
            .replace(r#".port = "8080";"#, &format!(r#".port = "{port}";"#));
        backends += "\n";
        adds += &format!("    origins.add_backend({name});\n");
    }
    let generated =
        format!("{ORIGINS_BEGIN} generated by tests/src/varnish.rs\n{backends}sub vcl_init {{\n{adds}}}\n");
    let vcl = format!("{}{generated}{}", &vcl[..begin], &vcl[end..]);

    let vcl = replace_once(
        &vcl,
        r#"set req.http.X-Expected-Origin-Verify = "";"#,
        &format!(r#"set req.http.X-Expected-Origin-Verify = "{}";"#, options.origin_verify_secret),
    );
    match options.healthy_grace {
        Some(grace) => {
            replace_once(&vcl, "set req.grace = 60s;", &format!("set req.grace = {}ms;", grace.as_millis()))
        }
        None => vcl,
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn set_mode_755(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
