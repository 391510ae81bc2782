//! What every subcommand starts from: the SDK configuration (standard credential chain,
//! `--profile`, `--region`, `AWS_ENDPOINT_URL`) and the deployment it works with.

use std::collections::BTreeMap;

use aws_config::BehaviorVersion;

use crate::args::{Global, ScopeArgs};
use crate::error::{self, CliError};

/// Calls carry this app id in their User-Agent (CloudTrail tells the operator's CLI from
/// the pipeline's functions).
const APP: &str = "rotate-token-cli";

pub struct Context {
    pub aws: aws_config::SdkConfig,
    pub region: String,
    pub global: Global,
}

impl Context {
    pub async fn load(global: Global) -> Result<Self, CliError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(rotatetoken::aws::tls::https_client());
        if let Some(profile) = &global.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &global.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Ok(app) = aws_config::AppName::new(APP) {
            loader = loader.app_name(app);
        }
        let aws = loader.load().await;
        let region = aws.region().map(|r| r.to_string()).ok_or_else(|| {
            CliError::not_found(
                "no region is configured",
                "give --region, or set AWS_REGION or a region in your profile",
            )
        })?;
        Ok(Self {
            aws,
            region,
            global,
        })
    }

    fn no_stack(&self) -> CliError {
        CliError::not_found(
            format!(
                "the RotateToken deployment stack `{}` was not found in {}",
                self.global.stack, self.region
            ),
            "give --stack <the name you deployed it with> (and --region), or --state-machine <arn>",
        )
    }

    /// The deployed state machine: `--state-machine`, else the stack's StateMachineArn output.
    pub async fn state_machine(&self) -> Result<String, CliError> {
        if let Some(arn) = &self.global.state_machine {
            return Ok(arn.clone());
        }
        let cfn = aws_sdk_cloudformation::Client::new(&self.aws);
        let stacks = cfn
            .describe_stacks()
            .stack_name(&self.global.stack)
            .send()
            .await
            .map_err(|e| match error::aws("DescribeStacks", &e) {
                CliError::Aws(m) if m.contains("does not exist") => self.no_stack(),
                other => other,
            })?;
        stacks
            .stacks()
            .iter()
            .flat_map(|s| s.outputs())
            .find(|o| o.output_key() == Some("StateMachineArn"))
            .and_then(|o| o.output_value())
            .map(str::to_string)
            .ok_or_else(|| self.no_stack())
    }

    /// The settings plan and audit use, by the variable names the functions read: the
    /// deployed discover function's own environment (so the plan is the pipeline's), then
    /// the options given. `--standalone`: the options only, over the defaults.
    pub async fn settings(&self, scope: &ScopeArgs) -> Result<BTreeMap<String, String>, CliError> {
        let mut vars = BTreeMap::new();
        if !scope.standalone {
            let function = match &self.global.discover_function {
                Some(name) => name.clone(),
                None => self.discover_function().await?,
            };
            let config = aws_sdk_lambda::Client::new(&self.aws)
                .get_function_configuration()
                .function_name(&function)
                .send()
                .await
                .map_err(|e| match error::aws("GetFunctionConfiguration", &e) {
                    CliError::Aws(m) if m.contains("ResourceNotFound") || m.contains("not found") => {
                        CliError::not_found(
                            format!("the discover function `{function}` was not found"),
                            "give --discover-function <name>, --stack <deployment>, or --standalone",
                        )
                    }
                    other => other,
                })?;
            if let Some(env) = config.environment().and_then(|e| e.variables()) {
                vars.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        vars.insert("AWS_REGION".into(), self.region.clone());
        for (k, v) in scope.variables() {
            vars.insert(k.to_string(), v);
        }
        Ok(vars)
    }

    async fn discover_function(&self) -> Result<String, CliError> {
        let cfn = aws_sdk_cloudformation::Client::new(&self.aws);
        let found = cfn
            .describe_stack_resource()
            .stack_name(&self.global.stack)
            .logical_resource_id("DiscoverFunction")
            .send()
            .await
            .map_err(|e| match error::aws("DescribeStackResource", &e) {
                CliError::Aws(m) if m.contains("does not exist") => self.no_stack(),
                other => other,
            })?;
        found
            .stack_resource_detail()
            .and_then(|d| d.physical_resource_id())
            .map(str::to_string)
            .ok_or_else(|| self.no_stack())
    }
}
