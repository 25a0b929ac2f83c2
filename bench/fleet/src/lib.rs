//! The fleet benchmark. [`replay`] replays students against the edges.

pub mod replay;
