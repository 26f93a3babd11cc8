//! The integration tests, as one crate: one build of the harness
//! (`common/`), one link and one binary, with a module per topic. Run one
//! topic with `cargo test --test it metrics::`, one test by its full name
//! (`cargo test --test it -- --exact metrics::counters_follow_sessions_and_refusals`).
//!
//! Every test here shares the process with all the others, run in
//! parallel: none may change process-wide state (environment variables,
//! resource limits, signal dispositions, the working directory). A test
//! that must, gives that state to the child process it starts instead.

mod common;

mod access;
mod acme;
mod auth;
mod auth_limits;
mod caps;
mod completions;
mod config;
mod control;
mod ctl;
mod front_login;
mod frontends;
mod handover;
mod in_process;
mod journal;
mod layout;
mod limits;
mod logging;
mod man;
mod metrics;
mod modes;
mod multinode;
mod oidc;
mod oidc_forged;
mod plugins;
mod readme;
mod record;
mod recordings;
mod relay;
mod secrets;
mod splice;
mod streaming;
mod systemd;
mod target_check;
mod tls;
mod tls_reload;
mod tokens;
mod units;
mod users;
mod vnc;
mod vnc_servers;
mod vnc_tokens;
mod web;
