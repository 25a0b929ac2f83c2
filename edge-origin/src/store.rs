//! Store backends the origin reads releases from: a local directory (the embedded
//! default) or an S3 bucket prefix (AWS, Garage, MinIO, R2: custom endpoint, path style).

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use bytes::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store read of {key} failed: {source}")]
    Io { key: String, source: std::io::Error },
    #[error("S3 read of {key} failed: {message}")]
    S3 { key: String, message: String },
}

/// Where a store lives, as given on the command line: a directory or `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl StoreSpec {
    pub fn parse(s: &str) -> Result<Self, String> {
        let Some(rest) = s.strip_prefix("s3://") else { return Ok(StoreSpec::Local(PathBuf::from(s))) };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("no bucket in {s:?}: expected s3://bucket/prefix"));
        }
        Ok(StoreSpec::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() })
    }
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Local(dir) => write!(f, "{}", dir.display()),
            StoreSpec::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// How to reach S3: everything else comes from the standard AWS chain (env, profile, IMDS).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

/// The answer to a conditional read.
#[derive(Debug)]
pub enum Fetched {
    /// The validator still matches: the caller's copy is current.
    NotModified,
    Missing,
    Found {
        bytes: Bytes,
        validator: Option<String>,
    },
}

/// A read-only view of a store.
#[derive(Debug, Clone)]
pub enum Store {
    Local(PathBuf),
    S3 { client: aws_sdk_s3::Client, bucket: String, prefix: String },
}

/// An S3 client for a custom endpoint or AWS, with path-style addressing where an
/// endpoint is given, bounded retries and per-attempt timeouts.
pub async fn s3_client(options: &S3Options, timeout: Duration) -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    let shared = loader.load().await;
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .operation_attempt_timeout(timeout)
        .operation_timeout(timeout)
        .build();
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(options.endpoint.is_some())
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

impl Store {
    pub async fn open(spec: &StoreSpec, s3: &S3Options, timeout: Duration) -> Self {
        match spec {
            StoreSpec::Local(dir) => Store::Local(dir.clone()),
            StoreSpec::S3 { bucket, prefix } => Store::S3 {
                client: s3_client(s3, timeout).await,
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            },
        }
    }

    fn s3_key(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}/{key}")
        }
    }

    /// The bytes at `key` (a store-relative path such as `objects/<sha256>`), or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self.get_conditional(key, None).await? {
            Fetched::Found { bytes, .. } => Ok(Some(bytes)),
            Fetched::Missing | Fetched::NotModified => Ok(None),
        }
    }

    /// Reads `key` unless it still matches `validator` (an S3 ETag, or a local
    /// modification time and size), so polling an unchanged pointer costs no transfer.
    pub async fn get_conditional(&self, key: &str, validator: Option<&str>) -> Result<Fetched, StoreError> {
        match self {
            Store::Local(dir) => {
                let path = dir.join(key);
                let io = |source| StoreError::Io { key: key.to_owned(), source };
                let meta = match tokio::fs::metadata(&path).await {
                    Ok(meta) => meta,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Fetched::Missing),
                    Err(err) => return Err(io(err)),
                };
                let modified =
                    meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
                let stamp = modified.map(|m| format!("{}.{}-{}", m.as_secs(), m.subsec_nanos(), meta.len()));
                if stamp.is_some() && stamp.as_deref() == validator {
                    return Ok(Fetched::NotModified);
                }
                match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(Fetched::Found { bytes: Bytes::from(bytes), validator: stamp }),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Fetched::Missing),
                    Err(err) => Err(io(err)),
                }
            }
            Store::S3 { client, bucket, prefix } => {
                let full_key = Self::s3_key(prefix, key);
                let request = client
                    .get_object()
                    .bucket(bucket)
                    .key(&full_key)
                    .set_if_none_match(validator.map(str::to_owned));
                let s3_error = |message: String| StoreError::S3 { key: full_key.clone(), message };
                match request.send().await {
                    Ok(output) => {
                        let validator = output.e_tag().map(str::to_owned);
                        let body = output.body.collect().await.map_err(|e| s3_error(e.to_string()))?;
                        Ok(Fetched::Found { bytes: body.into_bytes(), validator })
                    }
                    Err(err) => {
                        let status = err.raw_response().map(|r| r.status().as_u16());
                        match (&err, status) {
                            (_, Some(304)) => Ok(Fetched::NotModified),
                            (_, Some(404)) => Ok(Fetched::Missing),
                            (SdkError::ServiceError(service), _) if service.err().is_no_such_key() => {
                                Ok(Fetched::Missing)
                            }
                            _ => Err(s3_error(describe(&err))),
                        }
                    }
                }
            }
        }
    }
}

/// A one-line description of an SDK error, with the service's code when there is one.
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!("{}: {}", e.code().unwrap_or("error"), e.message().unwrap_or("no message"))
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_store_specs() {
        assert_eq!(StoreSpec::parse("dist"), Ok(StoreSpec::Local("dist".into())));
        assert_eq!(
            StoreSpec::parse("s3://courses/prod/"),
            Ok(StoreSpec::S3 { bucket: "courses".into(), prefix: "prod".into() })
        );
        assert_eq!(
            StoreSpec::parse("s3://courses"),
            Ok(StoreSpec::S3 { bucket: "courses".into(), prefix: "".into() })
        );
        assert!(StoreSpec::parse("s3:///x").is_err());
    }

    #[tokio::test]
    async fn local_conditional_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("channels")).expect("mkdir");
        std::fs::write(dir.path().join("channels/live.json"), "{}").expect("write");
        let store = Store::Local(dir.path().to_owned());
        let Fetched::Found { validator, .. } =
            store.get_conditional("channels/live.json", None).await.expect("read")
        else {
            panic!("found")
        };
        let again = store.get_conditional("channels/live.json", validator.as_deref()).await.expect("read");
        assert!(matches!(again, Fetched::NotModified));
        assert!(matches!(store.get_conditional("nope", None).await.expect("read"), Fetched::Missing));
    }
}
