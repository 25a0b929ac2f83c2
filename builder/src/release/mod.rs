//! The release operations: everything after `course build`, against an S3 store and the
//! edges in front of it. Uses nothing of the build pipeline.
//!
//! - [`publish`]: upload a local release by steps (`publish/upload.rs`: what is missing,
//!   streamed and checksummed; then verify every object; `publish/flip.rs`: move the
//!   channel pointer, one winner per sequence; `publish/pending.rs`: the invalidation a
//!   flip owes, until every target has it; `publish/progress.rs`);
//! - [`invalidate`]: what a release change invalidates (`invalidate/plan.rs`) and each
//!   target that gets it (`cloudfront.rs`, `purge.rs` for Varnish, `notify.rs` for origins);
//! - [`deploy`]: publish, then invalidate (`course publish`);
//! - [`switch`]: rollback and promote, a flip to a release already stored;
//! - [`history`]: each channel's flips (`course releases`) and garbage collection (`course gc`);
//! - [`warm`]: refill self-hosted edges with what a release changed (`--warm`);
//! - `remote`: the bucket and prefix with the reads and writes they share; `hooks`: the
//!   fault-injection and pause points the end-to-end tests drive.

pub mod deploy;
pub mod history;
pub(crate) mod hooks;
pub mod invalidate;
pub mod publish;
pub(crate) mod remote;
pub mod switch;
pub mod warm;
