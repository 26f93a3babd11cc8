//! What an operator scrapes: session, byte, close-code, refusal and target
//! counters and histograms (`registry`), served with the health state
//! (`health`) on a listener of its own (`endpoint`), never the public one.
//!
//! The daemon makes one `Metrics` for the process and passes it down (no
//! global): a reload does not reset the counters. They are bumped once per session or refusal, never
//! per frame, so the relay's hot path pays nothing.

pub mod endpoint;
pub mod health;
mod registry;

pub use registry::Metrics;
