//! The `course` CLI as a library: build content into releases, and preview them.

pub mod build;
pub mod deploy;
pub mod generate;
pub mod history;
pub mod invalidate;
pub mod keys;
pub mod preview;
pub mod publish;
pub mod sign;
pub mod size;
pub mod switch;

pub use build::diagnostics::ContentError;
pub use build::{build, BuildError, BuildOptions, BuildReport};
