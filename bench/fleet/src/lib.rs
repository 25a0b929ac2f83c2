//! The fleet benchmark. [`replay`] replays students against the edges; [`scenario`] runs
//! them through a fleet (tests/src/fleet.rs) with releases and faults on a schedule;
//! [`table`] writes a run's report as markdown.

pub mod replay;
pub mod scenario;
pub mod table;
