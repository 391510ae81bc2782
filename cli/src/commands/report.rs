//! `report`: a finished run's summary as Markdown (for an incident channel) or JSON.

use rotatetoken::domain::report as summary;

use super::{print_json, Attention};
use crate::args::ReportFormat;
use crate::context::Context;
use crate::error::CliError;
use crate::execution::Execution;

pub async fn run(
    ctx: &Context,
    name_or_arn: &str,
    format: ReportFormat,
) -> Result<Attention, CliError> {
    let execution = Execution::find(ctx, name_or_arn).await?;
    let s = execution.summary().await?;
    match format {
        ReportFormat::Json => print_json(&s)?,
        ReportFormat::Markdown => print!("{}", summary::render_markdown(&s)),
    }
    Ok(s.run_failed)
}
