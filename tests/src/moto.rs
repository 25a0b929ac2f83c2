//! moto's CloudFront API server on a free loopback port (the real service is out of reach),
//! with the few calls the tests make against it.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::garage::free_port;
use crate::require_tool;

/// `moto_server` on a free loopback port, killed when dropped.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts moto_server on a free loopback port. The port is picked free and then bound
    /// by moto, so another process can take it in between: a server that exits at start is
    /// started again on another port, and one that listens is ours only while it runs.
    pub fn start() -> Moto {
        let program = require_tool("moto_server", "pip install 'moto[server]'");
        for _attempt in 0..5 {
            if let Some(moto) = Moto::start_on(&program, free_port()) {
                return moto;
            }
        }
        panic!("moto_server exited at start five times (ports taken?)")
    }

    fn start_on(program: &std::path::Path, port: u16) -> Option<Moto> {
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let mut moto = Moto { endpoint: format!("http://127.0.0.1:{port}"), child };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let running = matches!(moto.child.try_wait(), Ok(None));
            if !running {
                return None;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // Listening, and still ours: a moto that lost the port has exited by now.
                std::thread::sleep(Duration::from_millis(200));
                return matches!(moto.child.try_wait(), Ok(None)).then_some(moto);
            }
            assert!(Instant::now() < deadline, "moto_server did not listen on {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A CloudFront client for this server (any credentials do).
    pub async fn client(&self) -> aws_sdk_cloudfront::Client {
        let credentials = aws_sdk_cloudfront::config::Credentials::new("test", "test", None, None, "test");
        let config = aws_sdk_cloudfront::config::Builder::new()
            .behavior_version(aws_sdk_cloudfront::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudfront::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .build();
        aws_sdk_cloudfront::Client::from_conf(config)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a distribution (an S3 origin, the managed CachingOptimized policy); returns its id.
pub async fn create_distribution(client: &aws_sdk_cloudfront::Client) -> String {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
    };
    let origin = Origin::builder()
        .id("store")
        .domain_name("courses.s3.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .expect("origin");
    let behaviour = DefaultCacheBehavior::builder()
        .target_origin_id("store")
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        // The managed CachingOptimized policy.
        .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
        .build()
        .expect("cache behaviour");
    let config = DistributionConfig::builder()
        .caller_reference("invalidate-test")
        .origins(Origins::builder().quantity(1).items(origin).build().expect("origins"))
        .default_cache_behavior(behaviour)
        .comment("invalidate test")
        .enabled(true)
        .build()
        .expect("distribution config");
    let created =
        client.create_distribution().distribution_config(config).send().await.expect("CreateDistribution");
    created.distribution().expect("distribution").id().to_owned()
}

/// (id, CallerReference, paths) of every invalidation of the distribution, sorted.
pub async fn invalidations(
    client: &aws_sdk_cloudfront::Client,
    distribution: &str,
) -> Vec<(String, String, BTreeSet<String>)> {
    let list =
        client.list_invalidations().distribution_id(distribution).send().await.expect("ListInvalidations");
    let mut all = Vec::new();
    for summary in list.invalidation_list().map(|l| l.items()).unwrap_or_default() {
        let got = client
            .get_invalidation()
            .distribution_id(distribution)
            .id(summary.id())
            .send()
            .await
            .expect("GetInvalidation");
        let batch = got.invalidation().and_then(|i| i.invalidation_batch()).expect("batch");
        let paths = batch.paths().and_then(|p| p.items.clone()).unwrap_or_default();
        all.push((summary.id().to_owned(), batch.caller_reference().to_owned(), paths.into_iter().collect()));
    }
    all.sort();
    all
}
