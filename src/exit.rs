//! Errors to exit codes, and the way an error is printed.

use std::process::ExitCode;

use kubestrap_phases::config::InvalidConfig;
use kubestrap_phases::host::interrupt::Interrupted;
use kubestrap_phases::workflows::PreflightFailed;

/// Exit code of a general failure.
pub const FAILURE: u8 = 1;
/// Exit code of failed pre-flight checks (kubeadm's).
pub const PREFLIGHT_FAILED: u8 = 2;
/// Exit code of an invalid configuration or flag (kubeadm's).
pub const INVALID_CONFIG: u8 = 3;
/// Exit code of `certs check-expiration` when a certificate has expired, expires within 30 days
/// or is missing.
pub const NEEDS_RENEWAL: u8 = 4;
/// Exit code of `cluster apply|reset` when some hosts are done and others failed (run it again).
pub const PARTIAL: u8 = 5;
/// Exit code of `cluster apply|reset` when it failed before changing any host.
pub const NOTHING_DONE: u8 = 6;
// A run stopped by SIGINT or SIGTERM exits with 128 + the signal's number (130, 143), as shells
// report a process the signal ended.

/// Prints `error:`, each cause, and a `hint:` when one is embedded; returns the exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let mut hint = None;
    let mut first = true;
    for cause in err.chain() {
        let text = cause.to_string();
        let (text, this_hint) = match text.split_once("\n\nhint: ") {
            Some((t, h)) => (t.to_string(), Some(h.to_string())),
            None => (text, None),
        };
        hint = hint.or(this_hint);
        if first {
            crate::stderr!("error: {text}\n");
            first = false;
        } else {
            crate::stderr!("  caused by: {text}\n");
        }
    }
    if let Some(hint) = hint {
        crate::stderr!("\nhint: {hint}\n");
    }
    ExitCode::from(code(err))
}

fn code(err: &anyhow::Error) -> u8 {
    if let Some(interrupted) = Interrupted::find(err) {
        interrupted.exit_code()
    } else if err
        .chain()
        .any(|c| c.downcast_ref::<InvalidConfig>().is_some())
    {
        INVALID_CONFIG
    } else if err
        .chain()
        .any(|c| c.downcast_ref::<PreflightFailed>().is_some())
    {
        PREFLIGHT_FAILED
    } else {
        FAILURE
    }
}
