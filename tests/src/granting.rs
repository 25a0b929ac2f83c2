//! An origin that issues grants (`POST /_origin/grants`) for a roster, with a P-256 key made
//! by openssl, and a headless chromium driver run (`tests/browser/<script>.mjs`): what the
//! browser tests of enrolled courses share.

use std::path::Path;
use std::process::Command;

use crate::{client, require_tool, root, Origin};

/// The API key the LMS would use.
pub const API_KEY: &str = "lms-api-key";

pub struct GrantingOrigin {
    pub origin: Origin,
    _keys: tempfile::TempDir,
}

impl GrantingOrigin {
    /// An origin on `store` enforcing grants, issuing them for `roster` (the TOML of
    /// `--rosters`, e.g. `[courses]\ndata-structures = ["alice"]`).
    pub fn start(store: &Path, roster: &str) -> GrantingOrigin {
        require_tool("openssl", "apt-get install -y openssl");
        let keys = tempfile::tempdir().expect("tempdir");
        let k = keys.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(k).output().expect("run openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem"]);
        openssl(&["pkey", "-in", "ec.pem", "-pubout", "-out", "ec_pub.pem"]);
        std::fs::write(k.join("rosters.toml"), roster).expect("roster");
        let path = |name: &str| k.join(name).display().to_string();
        let trust = format!("K2EC={}", path("ec_pub.pem"));
        let (signing, rosters) = (path("ec.pem"), path("rosters.toml"));
        let args = [
            "--trusted-key",
            &trust,
            "--api-key",
            API_KEY,
            "--signing-key",
            &signing,
            "--signing-key-pair-id",
            "K2EC",
            "--rosters",
            &rosters,
        ];
        GrantingOrigin { origin: Origin::start(store, &args), _keys: keys }
    }

    /// The grant cookies (`name`, `value`, `path`) issued for `student` in `course`.
    pub fn grant_cookies(&self, student: &str, course: &str) -> Vec<(String, String, String)> {
        let response = client()
            .post(self.origin.url("/_origin/grants"))
            .bearer_auth(API_KEY)
            .body(format!("{{\"student\":\"{student}\",\"course\":\"{course}\",\"ttl\":\"10m\"}}"))
            .send()
            .expect("post grants");
        assert_eq!(response.status().as_u16(), 200, "a grant for {student} in {course}");
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| {
                let v = v.to_str().expect("ascii cookie");
                let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
                let (name, value) = pair.split_once('=').expect("name=value");
                let path =
                    attrs.split(';').find_map(|a| a.trim().strip_prefix("Path=")).unwrap_or("/").to_owned();
                (name.trim().to_owned(), value.trim().to_owned(), path)
            })
            .collect()
    }
}

/// Runs `node tests/browser/<script> <args...>` and parses what it prints as JSON.
pub fn run_browser(script: &str, args: &[&str]) -> serde_json::Value {
    require_tool("chromium", "apt-get install -y chromium");
    require_tool("node", "apt-get install -y nodejs npm");
    let dir = root().join("tests/browser");
    for module in ["playwright-core", "axe-core"] {
        assert!(
            dir.join("node_modules").join(module).is_dir(),
            "{module} is missing; install it with: (cd tests/browser && npm ci) (or run scripts/test)"
        );
    }
    let output = Command::new("node").current_dir(&dir).arg(script).args(args).output().expect("run node");
    assert!(
        output.status.success(),
        "{script} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{script} printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
    })
}
