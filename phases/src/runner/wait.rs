//! The one way to wait (kubeadm's `util/apiclient/wait.go`): a condition is polled at an
//! interval (constant, or doubling up to a limit) until it holds or the time is up, with progress
//! through the [`Reporter`] under a tag, and the last observed state kept for the timeout's
//! message. Every pause looks at [`Interrupt`], so SIGINT and SIGTERM stop the wait at once,
//! except for a wait made [`Wait::uninterruptible`] (the undo of a failed join, which is how an
//! interrupted join cleans up).

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::host::interrupt::Interrupt;
use crate::runner::report::{Progress, Reporter};

/// One look at the condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    /// It holds; the wait ends with this value.
    Ready(T),
    /// Not yet: what was observed instead (shown in the progress and kept for the timeout).
    Pending(String),
}

/// How a wait ended, when no error ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Waited<T> {
    Ready(T),
    /// The time was up; the state observed last.
    TimedOut(String),
}

impl<T> Waited<T> {
    /// The value, or the error `timed_out` makes of the last observed state.
    pub fn or_else(self, timed_out: impl FnOnce(String) -> anyhow::Error) -> Result<T> {
        match self {
            Waited::Ready(value) => Ok(value),
            Waited::TimedOut(last) => Err(timed_out(last)),
        }
    }
}

/// What the user sees of a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// A progress line (`[tag] what`) once the condition did not hold at the first look, with
    /// the time waited and the observed state.
    Progress,
    /// Each observed state as a detail line (`tag: state; trying again`) before the next look.
    Retries,
    /// Nothing: the caller says what happens.
    Quiet,
}

/// A wait: what is waited for, how often to look, and for how long.
pub struct Wait<'a> {
    out: &'a dyn Reporter,
    tag: &'a str,
    what: String,
    interval: Duration,
    max_interval: Duration,
    timeout: Duration,
    started: Instant,
    interrupt: Option<Interrupt>,
    shown: Shown,
}

impl<'a> Wait<'a> {
    /// Waits up to `timeout` from now for `what`, looking every `interval`, with a progress line
    /// under `tag`; stopped by `interrupt`.
    pub fn new(
        out: &'a dyn Reporter,
        interrupt: Interrupt,
        tag: &'a str,
        what: impl Into<String>,
        interval: Duration,
        timeout: Duration,
    ) -> Self {
        Wait {
            out,
            tag,
            what: what.into(),
            interval,
            max_interval: interval,
            timeout,
            started: Instant::now(),
            interrupt: Some(interrupt),
            shown: Shown::Progress,
        }
    }

    /// Doubles the pause after each look, up to `max`.
    pub fn backoff(mut self, max: Duration) -> Self {
        self.max_interval = max;
        self
    }

    /// Counts the time (and the timeout) from `started` instead of now: a wait that is part of
    /// a longer one.
    pub fn since(mut self, started: Instant) -> Self {
        self.started = started;
        self
    }

    /// Shows no progress line: the caller reports the wait its own way.
    pub fn quiet(mut self) -> Self {
        self.shown = Shown::Quiet;
        self
    }

    /// Shows each observed state as a detail line before looking again (retries of a call).
    pub fn retries(mut self) -> Self {
        self.shown = Shown::Retries;
        self
    }

    /// Not stopped by SIGINT or SIGTERM.
    pub fn uninterruptible(mut self) -> Self {
        self.interrupt = None;
        self
    }

    /// Looks at `check` until it is [`Poll::Ready`] or the time is up. An error of `check` or
    /// an interruption ends the wait with that error.
    pub fn until<T>(self, mut check: impl FnMut() -> Result<Poll<T>>) -> Result<Waited<T>> {
        let mut progress: Option<Box<dyn Progress + '_>> = None;
        let mut interval = self.interval;
        loop {
            let state = match check()? {
                Poll::Ready(value) => {
                    if let Some(p) = progress {
                        p.finish(&format!("{}: done after {}", self.what, self.elapsed()));
                    }
                    return Ok(Waited::Ready(value));
                }
                Poll::Pending(state) => state,
            };
            let left = self.timeout.saturating_sub(self.started.elapsed());
            if left.is_zero() {
                if let Some(p) = progress {
                    p.finish(&format!(
                        "{}: timed out after {}",
                        self.what,
                        self.elapsed()
                    ));
                }
                return Ok(Waited::TimedOut(state));
            }
            match self.shown {
                Shown::Progress => {
                    let p = progress.get_or_insert_with(|| self.out.progress(self.tag, &self.what));
                    p.tick(&match state.as_str() {
                        "" => self.elapsed(),
                        state => format!("{}, {state}", self.elapsed()),
                    });
                }
                Shown::Retries => self
                    .out
                    .detail(&format!("{}: {state}; trying again", self.tag)),
                Shown::Quiet => {}
            }
            let pause = interval.min(left);
            match self.interrupt {
                Some(interrupt) => interrupt.pause(pause)?,
                None => std::thread::sleep(pause),
            }
            interval = (interval * 2).min(self.max_interval).max(self.interval);
        }
    }

    /// The time waited, in whole seconds (`12s`).
    fn elapsed(&self) -> String {
        format!("{:.0}s", self.started.elapsed().as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::runner::report::RecordingReporter;

    fn wait(out: &RecordingReporter, interrupt: Interrupt, timeout: Duration) -> Wait<'_> {
        Wait::new(
            out,
            interrupt,
            "test",
            "the third look",
            Duration::from_millis(1),
            timeout,
        )
    }

    #[test]
    fn a_condition_that_comes_true_ends_the_wait_with_its_value() {
        let out = RecordingReporter::default();
        let looks = Cell::new(0);
        let got = wait(&out, Interrupt::private(), Duration::from_secs(30))
            .until(|| {
                looks.set(looks.get() + 1);
                Ok(match looks.get() {
                    3 => Poll::Ready("done"),
                    n => Poll::Pending(format!("look {n}")),
                })
            })
            .unwrap();
        assert_eq!(got, Waited::Ready("done"));
        assert_eq!(out.lines()[0], "detail [test] the third look");
    }

    #[test]
    fn the_timeout_keeps_the_last_observed_state_and_an_error_ends_the_wait() {
        let out = RecordingReporter::default();
        let looks = Cell::new(0);
        let got = wait(&out, Interrupt::private(), Duration::from_millis(20))
            .quiet()
            .until(|| {
                looks.set(looks.get() + 1);
                Ok(Poll::<()>::Pending(format!("look {}", looks.get())))
            })
            .unwrap();
        assert_eq!(got, Waited::TimedOut(format!("look {}", looks.get())));
        assert!(out.lines().is_empty(), "{:?}", out.lines());
        let err = wait(&out, Interrupt::private(), Duration::from_secs(30))
            .until(|| -> Result<Poll<()>> { anyhow::bail!("broken") })
            .unwrap_err();
        assert_eq!(err.to_string(), "broken");
    }

    #[test]
    fn a_signal_stops_the_wait_unless_it_is_uninterruptible() {
        let out = RecordingReporter::default();
        let interrupt = Interrupt::private();
        interrupt.raise(signal_hook::consts::SIGTERM);
        let err = wait(&out, interrupt, Duration::from_secs(3600))
            .until(|| Ok(Poll::<()>::Pending(String::new())))
            .unwrap_err();
        assert_eq!(err.to_string(), "interrupted by SIGTERM");
        let looks = Cell::new(0);
        let got = wait(&out, interrupt, Duration::from_secs(3600))
            .uninterruptible()
            .retries()
            .until(|| {
                looks.set(looks.get() + 1);
                Ok(match looks.get() {
                    2 => Poll::Ready(()),
                    _ => Poll::Pending("refused".into()),
                })
            })
            .unwrap();
        assert_eq!(got, Waited::Ready(()));
        assert!(
            out.lines()
                .contains(&"detail test: refused; trying again".to_string())
        );
    }
}
