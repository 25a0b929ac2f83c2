//! Origins: `POST /_origin/invalidate` with the admin token, so they serve the new
//! release before any cache in front of them refetches.

use anyhow::{bail, Context};
use bundle::ReleaseId;

use super::{http_client, send_with_retry, InvalidationReport};

pub(super) async fn notify(
    origin: &str,
    token: &str,
    release: &ReleaseId,
) -> anyhow::Result<InvalidationReport> {
    let url = format!("{}/_origin/invalidate", origin.trim_end_matches('/'));
    let http = http_client()?;
    let response = send_with_retry(&format!("POST {url}"), || http.post(&url).bearer_auth(token)).await?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("POST {url}: {status}: {}", body.trim());
    }
    let answer: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("POST {url}: unexpected answer {body:?}"))?;
    let serving = answer.get("release").and_then(|r| r.as_str()).unwrap_or_default().to_owned();
    if serving != release.as_str() {
        bail!(
            "{origin} reloaded but serves release {serving:?}, not {release} (is it following this channel?)"
        );
    }
    Ok(InvalidationReport { target: String::new(), requests: 1, paths: 0, ids: vec![serving] })
}
