//! Fault injection, for tests only: `KUBESTRAP_TEST_CRASH` makes the process die at once, as
//! `kill -9` would (no clean-up, no flushing), at a chosen point, so tests can prove that a run
//! killed anywhere is resumed or reset cleanly.
//!
//! - `after:<phase>`: right after the phase (`certs`, `certs/ca`, …) finished and was recorded;
//!   for a group, after its last sub-phase that runs.
//! - `fail:<phase>`: right after the phase finished, the run fails with an error instead (what
//!   a workflow undoes on failure is undone).
//! - `pause:<phase>`: right after the phase finished, the run says so and waits for SIGINT or
//!   SIGTERM (at most [`PAUSE_LIMIT`]), so a test can interrupt it at a known point.
//! - `writing:<path>`: half-way through writing the file at this logical path (the temporary
//!   file holds half the bytes; the file itself is untouched).
//! - `break:<component>`: an upgrade writes that control-plane component's new manifest with
//!   an argument the component refuses, so it never becomes healthy and the rollback runs.

use std::path::Path;

/// The environment variable; never set outside tests.
pub const VAR: &str = "KUBESTRAP_TEST_CRASH";

fn requested(kind: &str) -> Option<String> {
    let value = std::env::var(VAR).ok()?;
    let (k, target) = value.split_once(':')?;
    (k == kind).then(|| target.to_string())
}

/// The phase after which to die, if one is asked for.
pub fn after_phase() -> Option<String> {
    requested("after")
}

/// The phase after which to fail, if one is asked for.
pub fn fail_after_phase() -> Option<String> {
    requested("fail")
}

/// The phase after which to wait for a signal, if one is asked for.
pub fn pause_after_phase() -> Option<String> {
    requested("pause")
}

/// The control-plane component whose upgraded manifest is to be broken, if one is asked for.
pub fn break_component() -> Option<String> {
    requested("break")
}

/// How long `pause:` waits for a signal before the run fails.
pub const PAUSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether to die half-way through writing this file.
pub fn while_writing(logical: &Path) -> bool {
    requested("writing").is_some_and(|target| Path::new(&target) == logical)
}

/// Dies now, as `kill -9` would.
pub fn die() -> ! {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    std::process::abort()
}
