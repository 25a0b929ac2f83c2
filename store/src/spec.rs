//! Where a store lives, as given on the command line or in a config file.

use std::path::PathBuf;

/// A directory or `s3://bucket/prefix`.
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
}
