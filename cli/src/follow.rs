//! Following runs: the progress each refresh leaves in its run's files (where each stack
//! stands, each failure as it happens), shown on stderr: a progress bar on a terminal,
//! plain lines otherwise. `watch` follows one run, `incident start` every run of an
//! incident in one view.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use rotatetoken::domain::model::{Outcome, Phase, StackProgress};

use crate::error::CliError;
use crate::execution::Execution;

/// Where the stacks of a run stand.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub done: usize,
    pub phase_false: usize,
    pub phase_true: usize,
    pub in_place: usize,
    pub failed: usize,
}

impl Tally {
    pub fn of<'a>(stacks: impl IntoIterator<Item = &'a StackProgress>) -> Self {
        let mut t = Tally::default();
        for s in stacks {
            match s.outcome {
                Outcome::Waiting => match (s.mode.is_two_phase(), s.phase) {
                    (false, _) => t.in_place += 1,
                    (true, Phase::Disable) => t.phase_false += 1,
                    (true, _) => t.phase_true += 1,
                },
                Outcome::Failed | Outcome::WouldFail => {
                    t.done += 1;
                    t.failed += 1;
                }
                _ => t.done += 1,
            }
        }
        t
    }

    /// Another run's stacks, counted with these.
    pub fn add(&mut self, other: &Tally) {
        self.done += other.done;
        self.phase_false += other.phase_false;
        self.phase_true += other.phase_true;
        self.in_place += other.in_place;
        self.failed += other.failed;
    }

    pub fn line(&self) -> String {
        format!(
            "phase false {} · phase true {} · in place {} · failed {}",
            self.phase_false, self.phase_true, self.in_place, self.failed
        )
    }
}

/// Either a bar on a terminal or plain lines when the output is piped.
pub enum View {
    Bar(ProgressBar),
    Lines {
        last: Option<(usize, usize, String)>,
    },
}

impl View {
    pub fn new(total: usize) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {pos}/{len} stacks done · {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            View::Bar(bar)
        } else {
            View::Lines { last: None }
        }
    }

    /// `done` of `total` stacks, and where the rest stand (`message`).
    pub fn show(&mut self, done: usize, total: usize, message: String) {
        match self {
            View::Bar(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(message);
            }
            View::Lines { last } => {
                let now = (done, total, message);
                if last.as_ref() != Some(&now) {
                    eprintln!("progress: {}/{} stacks done · {}", now.0, now.1, now.2);
                    *last = Some(now);
                }
            }
        }
    }

    pub fn say(&self, line: &str) {
        match self {
            View::Bar(bar) => bar.println(line),
            View::Lines { .. } => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let View::Bar(bar) = self {
            bar.finish();
        }
    }
}

/// One run, followed: the progress of each of its stacks, as last read.
pub struct Follower {
    pub execution: Execution,
    /// The stacks its discovery selected (None until Discover has finished, or for a dry
    /// run, which leaves no progress).
    pub total: Option<usize>,
    pub running: bool,
    /// Looks that failed since the last that did not.
    pub failed_looks: u32,
    seen: HashMap<String, (String, StackProgress)>,
}

impl Follower {
    pub fn new(execution: Execution) -> Self {
        Self {
            execution,
            total: None,
            running: true,
            failed_looks: 0,
            seen: HashMap::new(),
        }
    }

    /// One look at the run: its status, then each progress file that changed since the
    /// last look. Returns a line for each stack newly failed.
    pub async fn look(&mut self) -> Result<Vec<String>, CliError> {
        self.running = self.execution.status().await?.running();
        self.failed_looks = 0;
        let mut failures = Vec::new();
        let Some(discovery) = self.execution.discovery().await? else {
            return Ok(failures);
        };
        let (Some(run), false) = (&discovery.run, discovery.dry_run) else {
            return Ok(failures);
        };
        self.total = Some(discovery.selected_count);
        for (key, tag) in self
            .execution
            .list(&run.bucket, &run.progress_prefix())
            .await?
        {
            if self.seen.get(&key).is_some_and(|(t, _)| *t == tag) {
                continue;
            }
            let Some(body) = self.execution.get(&run.bucket, &key).await? else {
                continue;
            };
            let Ok(progress) = serde_json::from_slice::<StackProgress>(&body) else {
                continue;
            };
            // A look's progress is written best effort, at once with what it does next: a
            // write retried late may land after its next look's. Never shown going back.
            if self
                .seen
                .get(&key)
                .is_some_and(|(_, p)| p.at_ms > progress.at_ms)
            {
                continue;
            }
            let was_failed = self
                .seen
                .get(&key)
                .is_some_and(|(_, p)| p.outcome == Outcome::Failed);
            if progress.outcome == Outcome::Failed && !was_failed {
                failures.push(format!(
                    "FAILED {}/{} {}{}: {}",
                    progress.stack.account,
                    progress.stack.region,
                    progress.stack.name,
                    if progress.critical { " (CRITICAL)" } else { "" },
                    progress.reason.as_deref().unwrap_or("no reason recorded")
                ));
            }
            self.seen.insert(key, (tag, progress));
        }
        Ok(failures)
    }

    pub fn tally(&self) -> Tally {
        Tally::of(self.seen.values().map(|(_, p)| p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotatetoken::domain::in_place::RefreshMode;
    use rotatetoken::domain::model::StackRef;

    fn at(mode: RefreshMode, phase: Phase, outcome: Outcome) -> StackProgress {
        StackProgress {
            stack: StackRef::from_stack_id(
                "arn:aws:cloudformation:us-east-1:111111111111:stack/a/1",
            )
            .unwrap(),
            mode,
            phase,
            outcome,
            reason: None,
            critical: false,
            at_ms: 0,
        }
    }

    #[test]
    fn stacks_are_counted_by_phase_and_a_failure_is_done_and_failed() {
        let stacks = [
            at(RefreshMode::TwoPhase, Phase::Disable, Outcome::Waiting),
            at(RefreshMode::TwoPhase, Phase::Enable, Outcome::Waiting),
            at(RefreshMode::InPlace, Phase::Disable, Outcome::Waiting),
            at(RefreshMode::TwoPhase, Phase::Done, Outcome::Refreshed),
            at(RefreshMode::TwoPhase, Phase::Disable, Outcome::Failed),
            at(RefreshMode::TwoPhase, Phase::Disable, Outcome::Skipped),
        ];
        assert_eq!(
            Tally::of(&stacks),
            Tally {
                done: 3,
                phase_false: 1,
                phase_true: 1,
                in_place: 1,
                failed: 1
            }
        );
    }
}
