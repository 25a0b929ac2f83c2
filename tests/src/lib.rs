//! The end-to-end harness: builds the real binaries once, starts them on loopback with
//! free ports, and stops them when the test ends.

pub mod fleet;
pub mod garage;
pub mod granting;
pub mod live;
pub mod moto;
pub mod proxy;
pub mod publishing;
pub mod varnish;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_owned()
}

/// The sample catalogue authors ship.
pub fn sample_content() -> PathBuf {
    root().join("content")
}

/// Path of a workspace binary, built (once per test process) next to this test binary:
/// in the target directory and profile of the build that produced the tests (wherever
/// `CARGO_TARGET_DIR` or a config file put it), so a test never runs a stale binary.
pub fn bin(name: &str) -> PathBuf {
    static PROFILE_DIR: OnceLock<PathBuf> = OnceLock::new();
    let profile_dir = PROFILE_DIR.get_or_init(|| {
        // <target>/<profile>/deps/<test binary>, or <target>/<profile>/<binary> for a
        // workspace binary using this harness (`fleet`).
        let exe = std::env::current_exe().expect("the test binary's path");
        let dir = exe.parent().expect("the binary's directory");
        let profile_dir = if dir.file_name().is_some_and(|d| d == "deps") {
            dir.parent().expect("<target>/<profile>/deps/<test>").to_owned()
        } else {
            dir.to_owned()
        };
        let target_dir = profile_dir.parent().expect("<target>/<profile>");
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build.current_dir(root()).args(["build", "--quiet", "--bin", "course", "--bin", "edge-origin"]);
        build.arg("--target-dir").arg(target_dir);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        profile_dir
    });
    profile_dir.join(name)
}

/// `course`, without the publish hooks ([`builder::release::publish::PAUSE_ENV`],
/// [`builder::release::publish::FAIL_AFTER_ENV`]) an in-process test of this binary may have set in
/// the environment (a test that wants a hook sets it on the command, after this).
pub fn course() -> Command {
    let mut command = Command::new(bin("course"));
    command
        .env_remove(builder::release::publish::PAUSE_ENV)
        .env_remove(builder::release::publish::FAIL_AFTER_ENV);
    command
}

/// Held by every test that sets this process's environment (its Garage's or moto's AWS
/// variables, the publish hooks): all end-to-end tests run in one process.
pub fn lock_process_env() -> MutexGuard<'static, ()> {
    static PROCESS_ENV: Mutex<()> = Mutex::new(());
    PROCESS_ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// For tests that call the publishing library in this process: holds
/// [`lock_process_env`], starts Garage and points this process's AWS environment at it,
/// with no publish hook set; and a runtime to drive the library.
pub fn in_process_garage() -> (MutexGuard<'static, ()>, garage::Garage, tokio::runtime::Runtime) {
    let guard = lock_process_env();
    let garage = garage::Garage::start();
    for (name, value) in garage.env() {
        std::env::set_var(name, value);
    }
    std::env::remove_var(builder::release::publish::FAIL_AFTER_ENV);
    std::env::remove_var(builder::release::publish::PAUSE_ENV);
    (guard, garage, tokio::runtime::Runtime::new().expect("runtime"))
}

/// `n` GETs of `url` sent at once (released together by a barrier), each from its own
/// client: (status, body length) of each.
pub fn concurrent_gets(url: &str, n: usize) -> Vec<(u16, usize)> {
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (barrier, url) = (barrier.clone(), url.to_owned());
            std::thread::spawn(move || {
                let client = client();
                barrier.wait();
                let response = client.get(&url).send().expect("get");
                (response.status().as_u16(), response.bytes().expect("body").len())
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().expect("thread")).collect()
}

/// Polls `check` every 20 ms until it holds, failing with `what` after `within`: tests wait
/// for what they expect to happen, not for a fixed time.
pub fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "{what} did not happen within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails (never skips) when a tool the test needs is missing, naming how to install it.
pub fn require_tool(program: &str, install: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()));
    found
        .unwrap_or_else(|| panic!("`{program}` is missing; install it with: {install} (or run scripts/test)"))
}

/// Runs `course build --content <content> --out <out>`.
pub fn course_build(content: &Path, out: &Path) -> Output {
    course()
        .args(["build", "--content"])
        .arg(content)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run course build")
}

/// Like [`course_build`], and asserts it succeeded; returns the release id it printed.
pub fn build_ok(content: &Path, out: &Path) -> String {
    let output = course_build(content, out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "course build failed:\n{}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("release "))
        .and_then(|l| l.split_whitespace().next())
        .expect("build prints the release id")
        .to_owned()
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let target = to.join(entry.path().strip_prefix(from).expect("under root"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Files under `dir` (paths and bytes), sorted, for before/after comparisons of a store.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_owned(), std::fs::read(e.path()).expect("read")))
        .collect();
    files.sort();
    files
}

/// A running `edge-origin`, stopped when dropped.
pub struct Origin {
    pub base: String,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Origin {
    /// Starts `edge-origin --store <store> --listen 127.0.0.1:0 <extra...>` and waits for its URL.
    pub fn start(store: &Path, extra: &[&str]) -> Origin {
        Origin::start_with(store.as_os_str(), extra, &[])
    }

    /// Like [`Origin::start`], with any store argument and extra environment variables.
    pub fn start_with(store: &std::ffi::OsStr, extra: &[&str], env: &[(&str, String)]) -> Origin {
        Origin::start_under(&[], store, extra, env)
    }

    /// Like [`Origin::start_with`], run through `wrapper` (e.g. `["prlimit", "--nofile=64:64"]`,
    /// which execs the origin, so [`Origin::pid`] is still the origin's).
    pub fn start_under(
        wrapper: &[&str],
        store: &std::ffi::OsStr,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Origin {
        Origin::launch(wrapper, store, "127.0.0.1:0", extra, env)
    }

    /// Like [`Origin::start`], listening on `listen` (say the address of an origin that
    /// was killed, to restart it where its edge expects it).
    pub fn start_on(store: &Path, listen: std::net::SocketAddr, extra: &[&str]) -> Origin {
        Origin::launch(&[], store.as_os_str(), &listen.to_string(), extra, &[])
    }

    /// Like [`Origin::start_on`], with any store argument and extra environment variables.
    pub fn start_on_with(
        store: &std::ffi::OsStr,
        listen: &str,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Origin {
        Origin::launch(&[], store, listen, extra, env)
    }

    fn launch(
        wrapper: &[&str],
        store: &std::ffi::OsStr,
        listen: &str,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Origin {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(bin("edge-origin"));
                command
            }
            None => Command::new(bin("edge-origin")),
        };
        let mut child = command
            .arg("--store")
            .arg(store)
            .args(["--listen", listen])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start edge-origin");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("log").push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(
                        rest.split_whitespace().next().unwrap_or_default().trim_end_matches('/').to_owned(),
                    );
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("edge-origin did not start: {}", log.lock().expect("log"))
        });
        Origin { base, child, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `host:port` it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.base.trim_start_matches("http://").parse().expect("origin address")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the origin logged so far (access log included). The origin writes its log from
    /// a background thread, so this first waits until the log has been quiet for 150 ms.
    pub fn log(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut seen = self.log.lock().expect("log").len();
        loop {
            std::thread::sleep(Duration::from_millis(150));
            let now = self.log.lock().expect("log").len();
            if now == seen || Instant::now() > deadline {
                return self.log.lock().expect("log").clone();
            }
            seen = now;
        }
    }

    /// Sends SIGKILL (`kill -9`: no graceful shutdown) and waits for the process to go.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    /// Waits for the process to exit (up to `within`).
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/<pid>/status` field in kB (`"VmRSS:"`, `"VmHWM:"`).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// The value of one metric line of `/metrics` (`name` includes any labels), or 0.
pub fn metric(origin: &Origin, name: &str) -> f64 {
    let text = get(&origin.url("/metrics"), &[]).text().expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Status of a request sent byte for byte to `base` (`http://addr`), for targets an HTTP
/// client would normalise (`..`, `%2e%2e`, backslashes).
pub fn raw_status(base: &str, request_target: &str) -> u16 {
    use std::io::Write;
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {request_target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// `len` incompressible bytes from `seed` (xorshift), for large media in tests.
pub fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// A TCP connection to `addr` from the loopback address `local` (e.g. 127.0.0.2), so tests
/// can play several clients; std cannot bind before connecting, tokio's socket can.
pub fn connect_from(
    local: std::net::IpAddr,
    addr: std::net::SocketAddr,
) -> std::io::Result<std::net::TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::new(local, 0))?;
        socket.connect(addr).await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// A client whose connections come from the loopback address `local`, one fresh
/// connection per request (so each request is also a new accept).
pub fn client_from(local: std::net::IpAddr) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// A plain HTTP client that neither follows redirects nor decompresses.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// GET with extra headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut request = client().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// A lesson page of course `prefix` (`/courses/<slug>/`) that only its students may read:
/// its route and how it is served.
pub fn enrolled_lesson_route<'m>(
    manifest: &'m bundle::Manifest,
    prefix: &str,
) -> Option<(&'m String, &'m bundle::Route)> {
    manifest.routes.iter().find(|(r, route)| {
        r.starts_with(prefix)
            && r.len() > prefix.len()
            && r.ends_with('/')
            && route.access != bundle::Access::Public
    })
}

/// The manifest of the release a local store's `live` channel points at.
pub fn live_manifest(store: &Path) -> (String, bundle::Manifest) {
    let pointer = std::fs::read(store.join("channels/live.json")).expect("channel pointer");
    let channel = bundle::Channel::from_bytes(&pointer).expect("channel parses");
    let bytes = std::fs::read(store.join(format!("releases/{}.json", channel.release))).expect("manifest");
    (channel.release.to_string(), bundle::Manifest::from_bytes(&bytes).expect("manifest parses"))
}

/// A route built from the pages rather than from content: a search index file
/// (`/_search/...`, `/courses/<slug>/_search/...`) or a course's save list
/// (`/courses/<slug>/_offline.json`). These change when the pages they index change.
pub fn is_derived_index(route: &str) -> bool {
    route.starts_with("/_search/") || route.contains("/_search/") || route.ends_with("/_offline.json")
}
