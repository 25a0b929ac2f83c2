//! The answers of store reads.

use std::time::SystemTime;

use bytes::Bytes;

/// The answer to a conditional read.
#[derive(Debug)]
pub enum Fetched {
    /// The validator still matches: the caller's copy is current.
    NotModified,
    Missing,
    Found {
        bytes: Bytes,
        /// What to pass next time to read only if it changed (an S3 ETag, or a local
        /// file's modification time and size).
        validator: Option<String>,
    },
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Relative to the listed folder, `/`-separated.
    pub name: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}
