//! SIGINT and SIGTERM. Once [`install`]ed, the first signal only raises a flag, and the run
//! stops at the next point that looks at it (before each phase, on each poll of a wait) through
//! the path of a failure: the file being written is finished (writes are whole or nothing), what
//! a failed workflow undoes is undone (a joining etcd member is removed), temporary folders are
//! removed as their owners are dropped, and an init's record names the phases that finished. A
//! second signal ends the process at once, for a run stuck where nothing looks.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The signal received (its number), 0 while none was.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// Set by the first signal: the second one ends the process.
static ARMED: AtomicBool = AtomicBool::new(false);

/// How often a pause looks at the flag.
const SLICE: Duration = Duration::from_millis(50);

/// Makes SIGINT and SIGTERM raise the process's flag (see the module); call once, early.
pub fn install() -> std::io::Result<()> {
    for signal in [SIGINT, SIGTERM] {
        // In this order: the shutdown only happens when an earlier signal has armed it.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, &ARMED)?;
        signal_hook::flag::register(signal, &ARMED)?;
        signal_hook::flag::register_usize(signal, &RECEIVED, signal as usize)?;
    }
    Ok(())
}

/// Runs `ask` (a question to the user) with signals ending the process at once, as they would
/// without [`install`]: nothing is under way while kubestrap waits for an answer.
pub fn at_once<T>(ask: impl FnOnce() -> T) -> T {
    ARMED.store(true, Ordering::SeqCst);
    let answer = ask();
    ARMED.store(RECEIVED.load(Ordering::SeqCst) != 0, Ordering::SeqCst);
    answer
}

/// Where a run learns that it was asked to stop: the process's signals, or (tests) a flag of
/// its own.
#[derive(Debug, Clone, Copy)]
pub struct Interrupt {
    flag: &'static AtomicUsize,
}

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt::process()
    }
}

impl Interrupt {
    /// The flag the handlers of [`install`] raise.
    pub fn process() -> Self {
        Interrupt { flag: &RECEIVED }
    }

    /// A flag no signal raises, for a test to raise with [`Interrupt::raise`].
    #[cfg(any(test, feature = "testing"))]
    pub fn private() -> Self {
        Interrupt {
            flag: Box::leak(Box::new(AtomicUsize::new(0))),
        }
    }

    /// Raises the flag as `signal` would.
    #[cfg(any(test, feature = "testing"))]
    pub fn raise(&self, signal: i32) {
        self.flag.store(signal as usize, Ordering::SeqCst);
    }

    /// `Err` once a signal came.
    pub fn check(&self) -> Result<(), Interrupted> {
        match self.flag.load(Ordering::SeqCst) {
            0 => Ok(()),
            signal => Err(Interrupted {
                signal: signal as i32,
            }),
        }
    }

    /// Sleeps for `pause`, or less when a signal comes in the meantime (then `Err`).
    pub fn pause(&self, pause: Duration) -> Result<(), Interrupted> {
        let until = Instant::now() + pause;
        loop {
            self.check()?;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(SLICE));
        }
    }
}

/// The error of a run stopped by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted {
    pub signal: i32,
}

impl Interrupted {
    /// What stopped a run that ended with `err`: the interruption in its chain, else a signal
    /// the process got (a program the run started may have failed of the same Ctrl-C).
    pub fn find(err: &anyhow::Error) -> Option<Interrupted> {
        err.chain()
            .find_map(|c| c.downcast_ref::<Interrupted>())
            .copied()
            .or_else(|| Interrupt::process().check().err())
    }

    /// The exit code shells give a process this signal ended: 128 + its number (130, 143).
    pub fn exit_code(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(u8::MAX)
    }

    /// `SIGINT`, `SIGTERM`.
    pub fn name(&self) -> String {
        signal_hook::low_level::signal_name(self.signal)
            .map_or_else(|| format!("signal {}", self.signal), str::to_string)
    }
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}", self.name())
    }
}

impl std::error::Error for Interrupted {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_flag_ends_a_pause_and_names_the_signal() {
        let interrupt = Interrupt::private();
        interrupt.check().unwrap();
        interrupt.pause(Duration::from_millis(1)).unwrap();
        interrupt.raise(SIGTERM);
        let err = interrupt.pause(Duration::from_secs(3600)).unwrap_err();
        assert_eq!(err.to_string(), "interrupted by SIGTERM");
        assert_eq!(err.exit_code(), 143);
        assert_eq!(Interrupted { signal: SIGINT }.exit_code(), 130);
        // The process's own flag is another one.
        Interrupt::process().check().unwrap();
    }
}
