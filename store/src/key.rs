//! Store-relative keys (`objects/<sha256>`) and where they live in an S3 bucket.

/// The S3 key of `key` in a store at `prefix` (`prefix/key`; just `key` at the bucket's
/// root). Slashes around the prefix are not doubled: `s3://b/site/` and `s3://b/site` are
/// the same store.
pub fn join_key(prefix: &str, key: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

/// Whether `key` names a file strictly inside the store: relative, `/`-separated, with no
/// empty, `.` or `..` segment and no backslash (a local store must not read or write
/// outside its directory whatever key it is handed).
pub(crate) fn is_store_key(key: &str) -> bool {
    !key.is_empty()
        && !key.contains('\\')
        && !key.contains('\0')
        && key.split('/').all(|segment| !matches!(segment, "" | "." | ".."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_prefix_and_key() {
        assert_eq!(join_key("", "objects/ab"), "objects/ab");
        assert_eq!(join_key("prod", "objects/ab"), "prod/objects/ab");
        assert_eq!(join_key("/prod/", "objects/ab"), "prod/objects/ab");
        assert_eq!(join_key("a/b", "channels/live.json"), "a/b/channels/live.json");
        assert_eq!(join_key("/", "releases/x.json"), "releases/x.json");
    }

    #[test]
    fn store_keys_stay_inside() {
        for good in ["objects/ab", "channels/live.json", "a"] {
            assert!(is_store_key(good), "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "objects/../../x", "a//b", "a/./b", "a/", "a\\..\\b", "a\0b"] {
            assert!(!is_store_key(bad), "{bad:?}");
        }
    }
}
