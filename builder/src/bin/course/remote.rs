//! The flags every command that talks to the S3 store and the CDN shares.

use builder::release::invalidate::Target;
use builder::release::switch::SwitchOptions;
use store::{S3Options, StoreSpec};

/// Where the S3 store is.
#[derive(clap::Args, Clone)]
pub(crate) struct RemoteArgs {
    /// The store: s3://bucket/prefix.
    #[arg(long)]
    store: String,
    /// S3 endpoint (Garage, MinIO, R2); path-style addressing is used with it.
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long)]
    region: Option<String>,
}

/// What to invalidate after a channel moves.
#[derive(clap::Args, Clone)]
pub(crate) struct CdnArgs {
    /// CloudFront distribution to invalidate: cloudfront:DIST_ID.
    #[arg(long)]
    cdn: Option<String>,
    /// A Varnish edge to send PURGE requests to (repeatable).
    #[arg(long)]
    purge: Vec<String>,
    /// An edge-origin to tell to reload now (repeatable; needs --notify-token).
    #[arg(long)]
    notify: Vec<String>,
    #[arg(long, env = "COURSE_NOTIFY_TOKEN", hide_env_values = true)]
    notify_token: Option<String>,
    /// Wait until CloudFront reports the invalidation completed.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Then fetch every public route the release changed or added through each --purge
    /// edge, so students find it cached (enrolled routes are never fetched).
    #[arg(long)]
    pub(crate) warm: bool,
    /// Invalidation paths before collapsing to wildcards.
    #[arg(long, default_value_t = 30)]
    pub(crate) budget: usize,
}

impl RemoteArgs {
    pub(crate) fn parse(&self) -> anyhow::Result<(StoreSpec, S3Options)> {
        let store = StoreSpec::parse(&self.store).map_err(anyhow::Error::msg)?;
        Ok((store, S3Options { endpoint: self.endpoint.clone(), region: self.region.clone() }))
    }

    /// The bucket, the prefix and a client for history and gc.
    pub(crate) async fn client(&self) -> anyhow::Result<(String, String, aws_sdk_s3::Client)> {
        match self.parse()? {
            (StoreSpec::S3 { bucket, prefix }, s3) => {
                Ok((bucket, prefix, builder::release::history::client(&s3).await))
            }
            _ => anyhow::bail!("--store must be s3://bucket/prefix"),
        }
    }
}

impl CdnArgs {
    pub(crate) fn targets(&self) -> anyhow::Result<Vec<Target>> {
        let mut targets = Vec::new();
        if let Some(cdn) = &self.cdn {
            targets.push(builder::release::deploy::cdn_target(cdn)?);
        }
        targets.extend(self.purge.iter().map(|edge| Target::Purge { edge: edge.clone() }));
        if !self.notify.is_empty() && self.notify_token.is_none() {
            anyhow::bail!("--notify needs --notify-token (the origins' admin token)");
        }
        for origin in &self.notify {
            targets.push(Target::Notify {
                origin: origin.clone(),
                token: self.notify_token.clone().unwrap_or_default(),
            });
        }
        Ok(targets)
    }

    pub(crate) fn switch_options(&self, remote: &RemoteArgs) -> anyhow::Result<SwitchOptions> {
        let (store, s3) = remote.parse()?;
        Ok(SwitchOptions {
            store,
            s3,
            targets: self.targets()?,
            budget: self.budget,
            wait: self.wait,
            warm: self.warm,
        })
    }
}
