//! Varnish in front of an [`crate::Origin`], configured by the VCL the repo ships
//! (`edge-origin/deploy/varnish.vcl`) with only the backend address rewritten.

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
    _dir: tempfile::TempDir,
}

impl Varnish {
    /// Starts varnishd on a free loopback port in front of `origin_base`
    /// (`http://host:port`) and waits until it answers through to the origin.
    pub fn start(origin_base: &str) -> Varnish {
        Varnish::start_behind_cdn(origin_base, "")
    }

    /// Like [`Varnish::start`], with the CDN's origin-verify secret set in the VCL (as an
    /// operator does when a CDN sits in front of this edge); "" leaves it unset.
    pub fn start_behind_cdn(origin_base: &str, origin_verify_secret: &str) -> Varnish {
        let varnishd = require_tool("varnishd", "apt-get install -y varnish");
        let (host, port) = origin_base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("origin base `{origin_base}` has no port"));

        let dir = tempfile::tempdir().expect("tempdir");
        // As root, varnishd's worker runs as an unprivileged user that must reach `n/`.
        set_mode_755(dir.path());
        let vcl = dir.path().join("varnish.vcl");
        assert!(vcl.is_absolute(), "varnishd needs an absolute VCL path");
        std::fs::write(&vcl, configured_vcl(host, port, origin_verify_secret)).expect("write vcl");

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
                .args(["-s", "malloc,64m", "-p", "default_ttl=0"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log fd"))
                .stderr(log)
                .spawn()
                .expect("start varnishd");
            let base = format!("http://127.0.0.1:{listen_port}");
            if wait_ready(&mut child, &base, Duration::from_secs(30)) {
                return Varnish { base, child, _dir: dir };
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            stop(&mut child);
        }
        panic!("varnishd did not come up:\n{last_log}")
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
        // `_dir` is removed when the field drops, after varnishd has exited.
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

/// The repo's VCL with its backend pointed at `host:port` and the CDN's secret set.
fn configured_vcl(host: &str, port: &str, origin_verify_secret: &str) -> String {
    let path = root().join("edge-origin/deploy/varnish.vcl");
    let vcl = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let replace_once = |text: &str, from: &str, to: &str| {
        assert_eq!(text.matches(from).count(), 1, "the VCL should contain `{from}` exactly once");
        text.replace(from, to)
    };
    let vcl = replace_once(&vcl, r#".host = "127.0.0.1";"#, &format!(r#".host = "{host}";"#));
    let vcl = replace_once(&vcl, r#".port = "8080";"#, &format!(r#".port = "{port}";"#));
    replace_once(
        &vcl,
        r#"set req.http.X-Expected-Origin-Verify = "";"#,
        &format!(r#"set req.http.X-Expected-Origin-Verify = "{origin_verify_secret}";"#),
    )
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn set_mode_755(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
