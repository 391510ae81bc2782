//! `watch`: follows a run. While it runs: stacks done out of the selected, how many are in
//! each phase, and each failure as it happens (from the progress each refresh leaves in
//! the run's files, [`crate::follow`]), on stderr. Then the summary the execution returns,
//! on stdout (also at once for a finished run).

use std::time::Duration;

use rotatetoken::domain::report;

use super::{print_json, Attention};
use crate::args::Output;
use crate::context::Context;
use crate::error::CliError;
use crate::execution::Execution;
use crate::follow::{Follower, View};

pub async fn run(ctx: &Context, name_or_arn: &str, interval: f64) -> Result<Attention, CliError> {
    let execution = Execution::find(ctx, name_or_arn).await?;
    let interval = Duration::from_secs_f64(interval.clamp(0.2, 60.0));
    let mut view: Option<View> = None;
    let mut run = Follower::new(execution);
    loop {
        let failures = run.look().await?;
        if let Some(total) = run.total {
            let view = view.get_or_insert_with(|| View::new(total));
            for line in failures {
                view.say(&line);
            }
            let tally = run.tally();
            view.show(tally.done, total, tally.line());
        }
        if !run.running {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    if let Some(view) = &view {
        view.finish();
    }
    let summary = run.execution.summary().await?;
    match ctx.global.output {
        Output::Json => print_json(&summary)?,
        Output::Table => print!("{}", report::render_table(&summary)),
    }
    Ok(summary.run_failed)
}
