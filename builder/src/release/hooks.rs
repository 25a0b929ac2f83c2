//! Test hooks of the release operations, read from the environment: a failure injected
//! after a step, and pauses at named steps, so end-to-end tests can force interleavings.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The environment variable that injects a failure after a step (tests).
pub const FAIL_AFTER_ENV: &str = "COURSE_PUBLISH_FAIL_AFTER";
/// The environment variable that pauses at a step (tests): `<step>:<file>`.
pub const PAUSE_ENV: &str = "COURSE_PUBLISH_PAUSE";
/// How long a pause waits for its file before failing the run.
const PAUSE_LIMIT: Duration = Duration::from_secs(120);

/// With `COURSE_PUBLISH_PAUSE=<step>:<file>` (several separated by `,`) naming this step:
/// creates `<file>.reached` and waits until `<file>` exists (at most [`PAUSE_LIMIT`]), so a
/// test can act at exactly this point of a publish (or gc) and then let it go on. Steps:
/// `listed` (once the publish knows which objects the store has), `verified` (every object
/// checked, before the flip), `claims-listed` (after the flip listed the claims of its
/// sequence), `checked` (after the flip re-read the pointer and recorded the invalidation,
/// before it checks the manifest), `manifest-checked` (the flip's last point before its
/// lease check and pointer write), `gc-planned` (gc, before it looks again and deletes),
/// `gc-manifests-deleted` (gc, after deleting manifests, before it looks at the claims again).
pub(crate) async fn pause_at(step: &str) -> anyhow::Result<()> {
    let Ok(spec) = std::env::var(PAUSE_ENV) else { return Ok(()) };
    let mut file = None;
    for one in spec.split(',') {
        let Some((at, path)) = one.split_once(':') else {
            bail!("{PAUSE_ENV}={spec:?}: expected <step>:<file>[,<step>:<file>...]");
        };
        if at == step {
            file = Some(path);
        }
    }
    let Some(file) = file else { return Ok(()) };
    let go = PathBuf::from(file);
    let reached = PathBuf::from(format!("{file}.reached"));
    std::fs::write(&reached, std::process::id().to_string())
        .with_context(|| format!("{PAUSE_ENV}: writing {}", reached.display()))?;
    tracing::info!(step, file, "paused");
    let deadline = Instant::now() + PAUSE_LIMIT;
    while !go.exists() {
        if Instant::now() > deadline {
            bail!("{PAUSE_ENV}: paused at `{step}` for {PAUSE_LIMIT:?}, and {file} never appeared");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

pub(crate) fn fail_after(step: &str) -> anyhow::Result<()> {
    if std::env::var(FAIL_AFTER_ENV).is_ok_and(|v| v.trim() == step) {
        bail!("injected failure after step `{step}` ({FAIL_AFTER_ENV}={step})");
    }
    Ok(())
}
