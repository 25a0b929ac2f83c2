//! Helpers for publish tests: cheap release variants of a built store, and `course`
//! processes run in the background with their output captured, for tests that interleave
//! several publishers (with `COURSE_PUBLISH_PAUSE`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bundle::{Access, CacheClass, Channel, Manifest, ObjectKey, Route};

use crate::course;

/// A local store holding a new release: the live release of `base` plus one page
/// `/variants/<tag>/` of its own. Objects are shared with `base` (a symlinked `objects/`,
/// where the new page's object is written), so a variant costs one small file, not a build.
pub fn variant(base: &Path, tag: &str) -> (tempfile::TempDir, String) {
    let (_, mut manifest) = crate::live_manifest(base);
    let html = format!("<!doctype html><title>{tag}</title><p>Variant {tag}.</p>\n");
    let object = ObjectKey::of(html.as_bytes());
    std::fs::write(base.join(format!("objects/{object}")), &html).expect("write the variant's page");
    manifest.routes.insert(
        format!("/variants/{tag}/"),
        Route {
            object,
            size: html.len() as u64,
            content_type: "text/html; charset=utf-8".into(),
            cache: CacheClass::Stable,
            access: Access::Public,
            encodings: BTreeMap::new(),
        },
    );
    let bytes = manifest.to_bytes();
    let release = bundle::manifest::release_id_of(&bytes);
    Manifest::from_bytes(&bytes).expect("the variant is a valid manifest");
    let store = tempfile::tempdir().expect("tempdir");
    for dir in ["releases", "channels"] {
        std::fs::create_dir_all(store.path().join(dir)).expect("mkdir");
    }
    std::os::unix::fs::symlink(base.join("objects"), store.path().join("objects")).expect("symlink objects");
    std::fs::write(store.path().join(format!("releases/{release}.json")), &bytes).expect("write manifest");
    let channel = Channel {
        release: release.clone(),
        previous: None,
        published_at: "2026-01-01T00:00:00Z".into(),
        sequence: 0,
    };
    std::fs::write(store.path().join("channels/live.json"), channel.to_bytes()).expect("write channel");
    (store, release.to_string())
}

/// A `course` process running in the background, its stdout and stderr collected.
pub struct Running {
    pub name: String,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

/// How a [`Running`] process ended.
#[derive(Debug)]
pub struct Finished {
    pub name: String,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let sink = Arc::new(Mutex::new(String::new()));
    let into = sink.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().expect("output").push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    sink
}

impl Running {
    /// Starts `course <args>` with `env` added to this process's environment.
    pub fn start(name: &str, args: &[&str], env: &[(&str, String)]) -> Running {
        let mut child = course()
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start course");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        Running { name: name.to_owned(), child, stdout, stderr }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (at most `within`, then kills it and panics) for the process to end.
    pub fn finish(mut self, within: Duration) -> Finished {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not finish within {within:?}:\n{}", self.name, self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The output threads end with the pipes; give them a moment to drain.
        std::thread::sleep(Duration::from_millis(100));
        Finished {
            name: self.name.clone(),
            success: status.success(),
            stdout: self.stdout.lock().expect("stdout").clone(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `path` exists (at most `within`); panics naming the process when it ended
/// first or the time is up.
pub fn wait_for_file(path: &Path, within: Duration, process: &mut Running) {
    let deadline = Instant::now() + within;
    while !path.exists() {
        assert!(
            !process.exited(),
            "{} ended before reaching {}:\n{}",
            process.name,
            path.display(),
            process.stderr()
        );
        assert!(
            Instant::now() < deadline,
            "{} never reached {}:\n{}",
            process.name,
            path.display(),
            process.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `<dir>/<name>`, the file a paused publisher waits for (`COURSE_PUBLISH_PAUSE=<step>:<it>`),
/// and `<it>.reached`, which it creates when it gets there.
pub fn pause_files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let go = dir.join(name);
    let reached = PathBuf::from(format!("{}.reached", go.display()));
    (go, reached)
}
