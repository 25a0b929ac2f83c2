//! The release format shared by `course` (the builder/publisher) and `edge-origin`.
//!
//! Store layout (a local directory or an S3 prefix, identical either way):
//! ```text
//! objects/<sha256 hex>        immutable bytes, one per distinct content (variants too)
//! releases/<release id>.json  immutable manifest of one release
//! channels/<name>.json        mutable pointer to the live release of a channel
//! ```
//! This crate does no I/O: it only hashes, names and (de)serialises.

pub mod authority;
pub mod grant;
pub mod hash;
pub mod manifest;
pub mod paths;
pub mod size;

pub use hash::{release_id_of, ReleaseId, RELEASE_ID_LEN};
pub use hash::{sha256_hex, ObjectKey, ObjectKeyError};
pub use manifest::{Access, CacheClass, Channel, Encoding, Manifest, ManifestError, Route, Variant};
