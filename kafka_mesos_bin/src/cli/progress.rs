//! What the CLI shows on stderr while the scheduler waits for brokers to start or stop: a
//! spinner with the elapsed time on a terminal, plain lines otherwise.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How to show a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing (the wait is not expected to be long).
    Hidden,
    /// A spinner with the elapsed time (stderr is a terminal).
    Spinner,
    /// A line when the wait begins and one every `every` after (stderr is a pipe or file).
    Lines {
        /// Time between lines.
        every: Duration,
    },
}

impl Progress {
    /// A spinner when stderr is a terminal, else a line every 10 seconds.
    pub fn for_stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::Spinner
        } else {
            Progress::Lines {
                every: Duration::from_secs(10),
            }
        }
    }

    /// Runs `work`, showing `what` (`waiting for broker 0 to start`) while it runs.
    pub async fn show<T>(self, what: &str, work: impl Future<Output = T>) -> T {
        match self {
            Progress::Hidden => work.await,
            Progress::Spinner => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                    bar.set_style(style);
                }
                bar.set_message(what.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                let out = work.await;
                bar.finish_and_clear();
                out
            }
            Progress::Lines { every } => {
                let started = Instant::now();
                let mut stderr = std::io::stderr();
                let _ = writeln!(stderr, "{what}...");
                tokio::pin!(work);
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tokio::select! {
                        out = &mut work => return out,
                        _ = ticks.tick() => {
                            let _ = writeln!(stderr, "{what}: {}s", started.elapsed().as_secs());
                        }
                    }
                }
            }
        }
    }
}
