//! What can go wrong talking to a store.

/// The kind of store call that failed (for the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Head,
    List,
    Write,
    Delete,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Read => "read",
            Op::Head => "head",
            Op::List => "listing",
            Op::Write => "write",
            Op::Delete => "delete",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `key` is store-relative.
    #[error("store {op} of {key} failed: {source}")]
    Io { op: Op, key: String, source: std::io::Error },
    /// `key` is the full S3 key (prefix included); `message` comes from [`crate::describe`].
    #[error("S3 {op} of {key} failed: {message}")]
    S3 { op: Op, key: String, message: String },
    /// A key that could name something outside the store (absolute, `..`, empty segments).
    #[error("{0:?} is not a store key")]
    BadKey(String),
}
