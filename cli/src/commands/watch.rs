//! `watch`: follows a run. While it runs: stacks done out of the selected, how many are in
//! each phase, and each failure as it happens (from the progress each refresh leaves in
//! the run's files), on stderr: a progress bar on a terminal, plain lines otherwise. Then
//! the summary the execution returns, on stdout (also at once for a finished run).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use rotatetoken::domain::model::{Outcome, Phase, StackProgress};
use rotatetoken::domain::report;

use super::{print_json, Attention};
use crate::args::Output;
use crate::context::Context;
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

    pub fn line(&self) -> String {
        format!(
            "phase false {} · phase true {} · in place {} · failed {}",
            self.phase_false, self.phase_true, self.in_place, self.failed
        )
    }
}

/// Either a bar on a terminal or plain lines when the output is piped.
enum View {
    Bar(ProgressBar),
    Lines { last: Option<(usize, Tally)> },
}

impl View {
    fn new(total: usize) -> Self {
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

    fn show(&mut self, total: usize, tally: &Tally) {
        match self {
            View::Bar(bar) => {
                bar.set_length(total as u64);
                bar.set_position(tally.done as u64);
                bar.set_message(tally.line());
            }
            View::Lines { last } => {
                if last.as_ref() != Some(&(total, tally.clone())) {
                    eprintln!(
                        "progress: {}/{} stacks done · {}",
                        tally.done,
                        total,
                        tally.line()
                    );
                    *last = Some((total, tally.clone()));
                }
            }
        }
    }

    fn say(&self, line: &str) {
        match self {
            View::Bar(bar) => bar.println(line),
            View::Lines { .. } => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let View::Bar(bar) = self {
            bar.finish();
        }
    }
}

pub async fn run(ctx: &Context, name_or_arn: &str, interval: f64) -> Result<Attention, CliError> {
    let execution = Execution::find(ctx, name_or_arn).await?;
    let interval = Duration::from_secs_f64(interval.clamp(0.2, 60.0));
    let mut view: Option<View> = None;
    let mut seen: HashMap<String, (String, StackProgress)> = HashMap::new();
    loop {
        let status = execution.status().await?;
        if let Some(discovery) = execution.discovery().await? {
            if let (Some(run), false) = (&discovery.run, discovery.dry_run) {
                let total = discovery.selected_count;
                let view = view.get_or_insert_with(|| View::new(total));
                for (key, tag) in execution.list(&run.bucket, &run.progress_prefix()).await? {
                    if seen.get(&key).is_some_and(|(t, _)| *t == tag) {
                        continue;
                    }
                    let Some(body) = execution.get(&run.bucket, &key).await? else {
                        continue;
                    };
                    let Ok(progress) = serde_json::from_slice::<StackProgress>(&body) else {
                        continue;
                    };
                    let was_failed = seen
                        .get(&key)
                        .is_some_and(|(_, p)| p.outcome == Outcome::Failed);
                    if progress.outcome == Outcome::Failed && !was_failed {
                        view.say(&format!(
                            "FAILED {}/{} {}{}: {}",
                            progress.stack.account,
                            progress.stack.region,
                            progress.stack.name,
                            if progress.critical { " (CRITICAL)" } else { "" },
                            progress.reason.as_deref().unwrap_or("no reason recorded")
                        ));
                    }
                    seen.insert(key, (tag, progress));
                }
                view.show(total, &Tally::of(seen.values().map(|(_, p)| p)));
            }
        }
        if !status.running() {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    if let Some(view) = &view {
        view.finish();
    }
    let summary = execution.summary().await?;
    match ctx.global.output {
        Output::Json => print_json(&summary)?,
        Output::Table => print!("{}", report::render_table(&summary)),
    }
    Ok(summary.run_failed)
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
