//! All terminal output: status lines on stderr, data on stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;

/// `eprint!` that never panics: see [`to_stderr`].
#[macro_export]
macro_rules! stderr {
    ($($arg:tt)*) => {
        $crate::output::to_stderr(&format!($($arg)*))
    };
}
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kubestrap_phases::fs::root::Change;
use kubestrap_phases::workflows::{Progress, Reporter};

/// Prints what phases report, at the chosen verbosity.
#[derive(Debug, Clone)]
pub struct Printer {
    verbose: bool,
    /// Whether every confirmation is answered with yes.
    yes: bool,
    /// The flag that does so (`--yes`, `--force`).
    yes_flag: &'static str,
}

impl Printer {
    /// A printer; `verbose` shows phase names and dry-run file contents.
    pub fn new(verbose: bool) -> Self {
        Printer {
            verbose,
            yes: false,
            yes_flag: "--yes",
        }
    }

    /// A printer that answers yes to every confirmation when `given` (the flag named `flag`).
    pub fn assume_yes(mut self, given: bool, flag: &'static str) -> Self {
        self.yes = given;
        self.yes_flag = flag;
        self
    }

    /// A line of data for scripts, on stdout.
    pub fn data(&self, text: &str) {
        to_stdout(&format!("{text}\n"));
    }

    /// Text for scripts on stdout, as it is (it ends its own lines).
    pub fn raw(&self, text: &str) {
        to_stdout(text);
    }

    /// A result document for scripts (`-o json|yaml`), on stdout.
    pub fn document(
        &self,
        format: crate::cli::OutputFormat,
        value: &serde_json::Value,
    ) -> anyhow::Result<()> {
        let text = match format {
            crate::cli::OutputFormat::Json => serde_json::to_string_pretty(value)? + "\n",
            crate::cli::OutputFormat::Yaml => serde_yaml::to_string(value)?,
            crate::cli::OutputFormat::Text => format!("{value}\n"),
        };
        to_stdout(&text);
        Ok(())
    }

    /// A status line outside any phase.
    pub fn status(&self, tag: &str, msg: &str) {
        Reporter::status(self, tag, msg);
    }

    /// What a dry run would have changed.
    pub fn journal(&self, changes: &[Change]) {
        let mut folders = std::collections::HashSet::new();
        for change in changes {
            match change {
                Change::Wrote {
                    path,
                    mode,
                    size,
                    contents,
                } => {
                    to_stdout(&format!(
                        "[dryrun] would write {path} ({mode:04o}, {})\n",
                        human_size(*size)
                    ));
                    if self.verbose
                        && let Some(bytes) = contents
                    {
                        to_stdout(&format!("{}\n", String::from_utf8_lossy(bytes).trim_end()));
                    }
                }
                Change::CreatedDir { path, mode } => {
                    // Several phases make sure of the same folder; say it once.
                    if folders.insert(path) {
                        to_stdout(&format!(
                            "[dryrun] would create folder {path} ({mode:04o})\n"
                        ));
                    }
                }
                Change::Removed { path } => to_stdout(&format!("[dryrun] would remove {path}\n")),
            }
        }
    }
}

/// Writes to stdout. A reader that stopped reading (`kubestrap token list | grep -q …`) is not
/// an error: what it did not want is dropped, and the run goes on.
fn to_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        to_stderr(&format!("error: cannot write to standard output: {e}\n"));
    }
}

/// Writes to stderr. A closed stderr (`kubestrap … 2>&1 | head -1`) must not stop a run half-way
/// (`eprintln!` would panic): the status lines are dropped and the work goes on.
pub fn to_stderr(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

fn human_size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

impl Reporter for Printer {
    fn phase(&self, path: &str) {
        if self.verbose {
            stderr!("[phase] {path}\n");
        }
    }
    fn status(&self, tag: &str, msg: &str) {
        stderr!("[{tag}] {msg}\n");
    }
    fn warn(&self, tag: &str, msg: &str) {
        stderr!("[WARNING {tag}]: {msg}\n");
    }
    fn detail(&self, msg: &str) {
        if self.verbose {
            stderr!("{msg}\n");
        }
    }
    fn error(&self, tag: &str, msg: &str) {
        stderr!("[ERROR {tag}]: {msg}\n");
    }
    fn confirm(&self, question: &str) -> bool {
        use std::io::BufRead;
        if self.yes {
            stderr!("{question}: yes ({})\n", self.yes_flag);
            return true;
        }
        if !std::io::stdin().is_terminal() {
            stderr!(
                "{question}: no terminal to ask, so no (pass {} to answer yes)\n",
                self.yes_flag
            );
            return false;
        }
        stderr!("{question} [y/N] ");
        let mut answer = String::new();
        // Ctrl-C at the question ends kubestrap, as it would anywhere without a run under way.
        let read = kubestrap_phases::host::interrupt::at_once(|| {
            std::io::stdin().lock().read_line(&mut answer)
        });
        if read.is_err() {
            return false;
        }
        matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
    }
    fn progress(&self, tag: &str, msg: &str) -> Box<dyn Progress + '_> {
        let msg = format!("[{tag}] {msg}");
        if !std::io::stderr().is_terminal() {
            return Box::new(PlainProgress {
                msg,
                last: std::cell::Cell::new(std::time::Instant::now()),
            });
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(msg);
        bar.enable_steady_tick(Duration::from_millis(100));
        Box::new(Spinner(bar))
    }
}

/// A wait on a terminal: a spinner with the elapsed time and what is not ready yet.
struct Spinner(ProgressBar);

impl Progress for Spinner {
    fn tick(&self, state: &str) {
        self.0.set_message(state.to_string());
    }
    fn finish(&self, _: &str) {
        self.0.finish_and_clear();
    }
}

/// A wait when stderr is not a terminal (CI logs): one plain line every 10 s.
struct PlainProgress {
    msg: String,
    last: std::cell::Cell<std::time::Instant>,
}

impl Progress for PlainProgress {
    fn tick(&self, state: &str) {
        if self.last.get().elapsed() >= Duration::from_secs(10) {
            self.last.set(std::time::Instant::now());
            stderr!("[wait] {}: {state}\n", self.msg);
        }
    }
    fn finish(&self, _: &str) {}
}
