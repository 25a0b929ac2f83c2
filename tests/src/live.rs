//! `course serve` as an author runs it, and an interactive chromium session on it
//! (`tests/browser/live-session.mjs`), for the live-authoring tests and the authoring
//! benchmark.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A running `course serve --listen 127.0.0.1:0`, stopped when dropped.
pub struct Serving {
    pub base: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

fn collect_lines(from: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            into.lock().expect("lines").push(line);
        }
    });
}

impl Serving {
    /// Starts `course serve` on `content` into the store `out` (plus `extra` flags) and
    /// waits until it serves, watches and has the first build's outcome.
    pub fn start(content: &Path, out: &Path, extra: &[&str]) -> Serving {
        let mut child = crate::course()
            .arg("serve")
            .arg("--content")
            .arg(content)
            .arg("--out")
            .arg(out)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start course serve");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take().expect("stdout"), stdout.clone());
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stderr.take().expect("stderr"), stderr_lines.clone());
        let stderr = Arc::new(Mutex::new(String::new()));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut serving = Serving { base: String::new(), child, stdout, stderr };
        loop {
            let lines = serving.stdout.lock().expect("lines").clone();
            let base = lines.iter().find_map(|l| l.split("listening on ").nth(1)).map(|rest| {
                rest.split_whitespace().next().unwrap_or_default().trim_end_matches('/').to_owned()
            });
            // Serving starts at once; ready means the first build's outcome is in.
            let built = lines.iter().any(|l| l.starts_with("release "))
                || stderr_lines.lock().expect("lines").iter().any(|l| l.contains("content error(s)"));
            if let (Some(base), true) = (base, built) {
                serving.base = base;
                break;
            }
            if let Ok(Some(status)) = serving.child.try_wait() {
                panic!("course serve exited ({status}): {}", stderr_lines.lock().expect("lines").join("\n"));
            }
            assert!(Instant::now() < deadline, "course serve did not start: {lines:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        // From here on, stderr is read as one text.
        let text = serving.stderr.clone();
        std::thread::spawn(move || loop {
            let taken: Vec<String> = std::mem::take(&mut *stderr_lines.lock().expect("lines"));
            if !taken.is_empty() {
                let mut text = text.lock().expect("stderr");
                for line in taken {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        });
        serving
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything printed on stdout so far, one entry per line.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("lines").clone()
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    /// The rebuild lines printed so far (`<what> changed: rebuilt in ...`).
    pub fn rebuilds(&self) -> Vec<String> {
        self.stdout().into_iter().filter(|l| l.contains(" changed: rebuilt in ")).collect()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium driven through `live-session.mjs`; every command has an answer within
/// `ANSWER` or the test fails.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
}

const ANSWER: Duration = Duration::from_secs(60);

impl Browser {
    pub fn start(base: &str) -> Browser {
        crate::require_tool("chromium", "apt-get install -y chromium");
        crate::require_tool("node", "apt-get install -y nodejs npm");
        let dir = crate::root().join("tests/browser");
        assert!(
            dir.join("node_modules/playwright-core").is_dir(),
            "playwright-core is missing; install it with: (cd tests/browser && npm ci) (or run scripts/test)"
        );
        let mut child = Command::new("node")
            .current_dir(&dir)
            .arg("live-session.mjs")
            .arg(base)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node live-session.mjs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Browser { child, stdin, answers }
    }

    fn send(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").expect("write to the browser driver");
        let line = self.answers.recv_timeout(ANSWER).unwrap_or_else(|_| panic!("no answer to {command}"));
        let answer: Value = serde_json::from_str(&line).expect("a JSON answer");
        assert!(answer.get("error").is_none(), "{command}: {answer}");
        answer
    }

    /// Opens `path` in a new tab called `page`; the HTTP status.
    pub fn open(&mut self, page: &str, path: &str) -> u64 {
        self.send(json!({"cmd": "open", "page": page, "path": path}))["status"].as_u64().unwrap_or_default()
    }

    pub fn eval(&mut self, page: &str, expr: &str) -> Value {
        self.send(json!({"cmd": "eval", "page": page, "expr": expr}))["value"].clone()
    }

    /// Waits until `expr` is truthy on `page` (up to `within`); whether it became so.
    pub fn wait(&mut self, page: &str, expr: &str, within: Duration) -> bool {
        let answer = self.send(
            json!({"cmd": "wait", "page": page, "expr": expr, "timeout_ms": within.as_millis() as u64}),
        );
        answer["ok"] == json!(true)
    }

    /// Writes `text` to `file` and waits for `page` to load again: the milliseconds from the
    /// write to the `load` event, or `None` if it did not reload within `within`.
    pub fn write_and_await_reload(
        &mut self,
        page: &str,
        file: &Path,
        text: &str,
        within: Duration,
    ) -> Option<f64> {
        let answer = self.send(json!({
            "cmd": "write", "page": page, "file": file, "text": text, "timeout_ms": within.as_millis() as u64
        }));
        (answer["ok"] == json!(true)).then(|| answer["ms"].as_f64().unwrap_or_default())
    }

    /// Console errors, page errors and failed requests of `page` so far.
    pub fn problems(&mut self, page: &str) -> Vec<String> {
        let value = self.send(json!({"cmd": "problems", "page": page}))["value"].clone();
        value
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// How many times `page` loaded again after it was opened.
    pub fn reloads(&mut self, page: &str) -> u64 {
        self.send(json!({"cmd": "reloads", "page": page}))["value"].as_u64().unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"cmd": "close"}));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
