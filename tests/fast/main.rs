//! The fast tests, in one binary: the real `mailctl` without Docker
//! (`init`, `render`, `dns`, imports, the bad-input table), the golden
//! files, and the DNS files and updates judged by BIND. The end-to-end
//! tests on real stacks are the other binary, `tests/e2e`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

/// The end-to-end runner's command line, tested here (its own binary has
/// no test harness).
#[path = "../e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

mod cli_init;
mod config_errors;
mod dns_update;
mod dns_zone;
mod golden;
mod import;
