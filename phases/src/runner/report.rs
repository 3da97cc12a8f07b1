//! How phases speak to the user. The binary renders these calls; tests record them.

/// Receives everything a phase wants the user to see.
pub trait Reporter: Send + Sync {
    /// A phase is starting (`certs/ca`); shown with `-v`.
    fn phase(&self, path: &str);
    /// A status line: `[tag] msg`.
    fn status(&self, tag: &str, msg: &str);
    /// A warning line: `[WARNING tag]: msg`.
    fn warn(&self, tag: &str, msg: &str);
    /// Extra detail shown with `-v` only.
    fn detail(&self, msg: &str);
    /// An error line: `[ERROR tag]: msg`.
    fn error(&self, tag: &str, msg: &str) {
        self.warn(tag, msg);
    }
    /// Asks the user to agree to a change; `false` when nobody can answer (no terminal, no `--yes`).
    fn confirm(&self, _question: &str) -> bool {
        false
    }
    /// Starts showing a wait (`[tag] msg`); the handle updates it and ends it. Without an
    /// override, `[tag] msg` and the end are plain detail lines.
    fn progress(&self, tag: &str, msg: &str) -> Box<dyn Progress + '_> {
        self.detail(&format!("[{tag}] {msg}"));
        Box::new(PlainProgress(self))
    }
}

/// A reporter behind a pointer (`Box<dyn Reporter>`, what a run hands on before its context
/// owns it; a test's `Arc<RecordingReporter>`) is one.
macro_rules! forward_reporter {
    ($pointer:ty) => {
        impl Reporter for $pointer {
            fn phase(&self, path: &str) {
                (**self).phase(path)
            }
            fn status(&self, tag: &str, msg: &str) {
                (**self).status(tag, msg)
            }
            fn warn(&self, tag: &str, msg: &str) {
                (**self).warn(tag, msg)
            }
            fn detail(&self, msg: &str) {
                (**self).detail(msg)
            }
            fn error(&self, tag: &str, msg: &str) {
                (**self).error(tag, msg)
            }
            fn confirm(&self, question: &str) -> bool {
                (**self).confirm(question)
            }
            fn progress(&self, tag: &str, msg: &str) -> Box<dyn Progress + '_> {
                (**self).progress(tag, msg)
            }
        }
    };
}

forward_reporter!(Box<dyn Reporter>);

/// API calls report through any reporter.
impl<R: Reporter + ?Sized> crate::api::Log for R {
    fn status(&self, tag: &str, msg: &str) {
        Reporter::status(self, tag, msg)
    }
    fn detail(&self, msg: &str) {
        Reporter::detail(self, msg)
    }
}

/// A wait being shown.
pub trait Progress {
    /// Updates the short state shown next to the message (elapsed time, what is not ready).
    fn tick(&self, state: &str);
    /// Ends the display with a last line.
    fn finish(&self, msg: &str);
}

struct PlainProgress<'a, R: Reporter + ?Sized>(&'a R);

impl<R: Reporter + ?Sized> Progress for PlainProgress<'_, R> {
    fn tick(&self, _: &str) {}
    fn finish(&self, msg: &str) {
        self.0.detail(msg);
    }
}

/// A reporter that keeps every line, for tests.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct RecordingReporter {
    pub lines: std::sync::Mutex<Vec<String>>,
    /// What `confirm` answers.
    pub yes: bool,
}

#[cfg(any(test, feature = "testing"))]
impl RecordingReporter {
    /// All lines recorded so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }
}

#[cfg(any(test, feature = "testing"))]
impl Reporter for RecordingReporter {
    fn phase(&self, path: &str) {
        self.push(format!("phase {path}"));
    }
    fn status(&self, tag: &str, msg: &str) {
        self.push(format!("[{tag}] {msg}"));
    }
    fn warn(&self, tag: &str, msg: &str) {
        self.push(format!("[WARNING {tag}]: {msg}"));
    }
    fn detail(&self, msg: &str) {
        self.push(format!("detail {msg}"));
    }
    fn error(&self, tag: &str, msg: &str) {
        self.push(format!("[ERROR {tag}]: {msg}"));
    }
    fn confirm(&self, question: &str) -> bool {
        self.push(format!("confirm {question}"));
        self.yes
    }
}

#[cfg(any(test, feature = "testing"))]
forward_reporter!(std::sync::Arc<RecordingReporter>);
