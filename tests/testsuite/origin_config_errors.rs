//! A config file that does not parse is reported as `config file <path>: line L, column
//! C: <message>` and never echoes the file: a line holding a secret (`admin_token`,
//! `api_key`, `origin_verify_secret`) stays out of the error, whatever is wrong with it.

use std::process::Command;

use e2e::bin;

/// Runs `edge-origin --config <file with text>`; its exit success and stderr.
fn run_with_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("origin.toml");
    std::fs::write(&file, text).expect("write");
    let out = Command::new(bin("edge-origin")).arg("--config").arg(&file).output().expect("run edge-origin");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn config_errors_name_the_place_and_never_the_secret() {
    let cases = [
        ("a syntax error on the secret's line", "store = \"dist\"\nadmin_token = \"tok-SECRET-1\" x\n", 2),
        ("a wrong-typed secret", "store = \"dist\"\napi_key = 31415926535\n", 2),
        ("an unknown key next to a secret", "origin_verify_secret = \"tok-SECRET-2\"\nbogus = 1\n", 2),
        ("an unterminated secret", "store = \"dist\"\nadmin_token = \"tok-SECRET-3\n", 2),
    ];
    for (what, text, line) in cases {
        let (ok, stderr) = run_with_config(text);
        assert!(!ok, "{what}: the origin must refuse to start");
        for secret in ["tok-SECRET", "31415926535"] {
            assert!(!stderr.contains(secret), "{what}: stderr shows {secret}:\n{stderr}");
        }
        assert!(stderr.contains(&format!("origin.toml: line {line}, column ")), "{what}:\n{stderr}");
    }
}
