//! The `course` CLI as a library: build content into releases, and preview them.

pub mod build;
pub mod fuzzing;
pub mod keys;
pub mod live;
pub mod pack;
pub mod preview;
pub mod release;
pub mod scaffold;
pub mod sign;

pub use build::diagnostics::ContentError;
pub use build::{build, BuildError, BuildOptions, BuildReport, ExternalCheck};
