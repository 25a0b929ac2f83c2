//! The `course` CLI as a library: build content into releases, and preview them.

pub mod assets;
pub mod build;
pub mod cache;
pub mod catalogue;
pub mod components;
pub mod compress;
pub mod deploy;
pub mod diagnostics;
pub mod frontmatter;
pub mod generate;
pub mod highlight;
pub mod history;
pub mod invalidate;
pub mod keys;
pub mod markdown;
pub mod pages;
pub mod preview;
pub mod publish;
pub mod relpath;
pub mod sanitize;
pub mod sign;
pub mod size;
pub mod store;
pub mod switch;
pub mod theme;
pub mod tree;
pub mod uses;

pub use build::{build, BuildError, BuildOptions, BuildReport};
pub use diagnostics::ContentError;
