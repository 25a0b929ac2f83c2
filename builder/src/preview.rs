//! `course serve --enforce-grants`: the local preview with enrolled courses closed as in
//! production, so an author or operator can try grants before publishing. A P-256 key pair
//! made for the preview (kept in `<out>/.preview-keys/`) is trusted, and a signed URL for
//! each enrolled course is printed; opening one sets the grant as cookies for that course.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bundle::grant::{sign_custom, HashAlgorithm, Policy, SigningKey};

use crate::keys::{new_pair, Algorithm};

/// Key pair id of the preview key.
const PREVIEW_KEY_ID: &str = "PREVIEW";
/// How long the printed signed URLs last.
const PREVIEW_GRANT_TTL: Duration = Duration::from_secs(12 * 3600);

/// Grants for a local preview: the preview key pair (made once) trusted by `config`, and
/// its signing key, for [`print_signed_urls`].
pub fn enforce_grants(config: &mut edge_origin::Config, out: &Path) -> anyhow::Result<SigningKey> {
    let dir = out.join(".preview-keys");
    let (private, public) =
        (dir.join(format!("{PREVIEW_KEY_ID}.pem")), dir.join(format!("{PREVIEW_KEY_ID}.pub.pem")));
    if !private.exists() || !public.exists() {
        let _ = std::fs::remove_file(&private);
        let _ = std::fs::remove_file(&public);
        new_pair(&dir, PREVIEW_KEY_ID, Algorithm::P256)?;
    }
    let pem = std::fs::read_to_string(&private).with_context(|| format!("reading {}", private.display()))?;
    let key = SigningKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", private.display()))?;
    config.grants.enforce = true;
    config.grants.trusted_keys = vec![(PREVIEW_KEY_ID.to_owned(), public)];
    Ok(key)
}

/// A signed URL for the course page of `slug`, opening the whole course.
pub fn signed_url(key: &SigningKey, base: &str, slug: &str) -> anyhow::Result<String> {
    let prefix = format!("{base}{}", bundle::paths::course_prefix(slug));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let policy = Policy::new(format!("{prefix}*"), now + PREVIEW_GRANT_TTL.as_secs());
    let issued = sign_custom(&policy, key, PREVIEW_KEY_ID, HashAlgorithm::Sha256);
    Ok(format!("{prefix}?{}", issued.query))
}
