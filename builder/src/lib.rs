//! The `course` CLI as a library: build content into releases, and preview them.

pub mod build;
pub mod keys;
pub mod preview;
pub mod release;
pub mod sign;

pub use build::diagnostics::ContentError;
pub use build::{build, BuildError, BuildOptions, BuildReport, ExternalCheck};
