//! Stacks and secrets for the suites: templates shaped the way AWS documents the pattern
//! (a `RotateToken` parameter, a `RotateToken` condition, guarded resources reading the
//! secret through a dynamic reference).

use aws_sdk_cloudformation::types::{Capability, Parameter, Tag};
use std::collections::BTreeMap;

/// A consumer: one guarded SSM parameter that holds the secret value (by name or ARN),
/// one unguarded resource, and a parameter that takes its default.
pub fn consumer_template(secret_ref: &str) -> String {
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Description: consumer of a secret, RotateToken pattern
Parameters:
  RotateToken:
    Type: String
    Default: "true"
    AllowedValues: ["true", "false"]
  Environment:
    Type: String
    Default: prod
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  DatabasePassword:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties:
      Type: String
      Value: "{{{{resolve:secretsmanager:{secret_ref}:SecretString}}}}"
  ApiKey:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties:
      Type: String
      Value: !Sub "key-for-${{Environment}}-{{{{resolve:secretsmanager:{secret_ref}:SecretString}}}}"
  Settings:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Sub "env=${{Environment}}"
"#
    )
}

/// A stack reading each of `secrets` into a guarded parameter of its own.
pub fn consumer_of(secrets: &[String]) -> String {
    let mut t = String::from(
        "AWSTemplateFormatVersion: \"2010-09-09\"\nParameters:\n  RotateToken:\n    Type: String\n    \
         Default: \"true\"\n    AllowedValues: [\"true\", \"false\"]\nConditions:\n  RotateToken: \
         !Equals [!Ref RotateToken, \"true\"]\nResources:\n",
    );
    for (i, s) in secrets.iter().enumerate() {
        t.push_str(&format!(
            "  Reader{i}:\n    Type: AWS::SSM::Parameter\n    Condition: RotateToken\n    Properties:\n      \
             Type: String\n      Value: \"{{{{resolve:secretsmanager:{s}:SecretString}}}}\"\n"
        ));
    }
    t
}

/// A consumer in in-place mode: its reader pins the secret version with
/// `RotateTokenVersion` (empty: the current version, as when the stack was created), and
/// has no `RotateToken` at all. Only the pinned reader is modified by a refresh.
pub fn in_place_consumer_template(secret_ref: &str) -> String {
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Description: consumer of a secret, in-place mode (version pinned by a parameter)
Parameters:
  RotateTokenVersion:
    Type: String
    Default: ""
  Environment:
    Type: String
    Default: prod
Resources:
  DatabasePassword:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Sub "{{{{resolve:secretsmanager:{secret_ref}:SecretString:::${{RotateTokenVersion}}}}}}"
  Settings:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Sub "env=${{Environment}}"
"#
    )
}

/// A database whose master user name and password pin the secret version: the user name
/// is create-only, so a new version would replace the database (and its data).
pub fn in_place_database_template(secret_ref: &str) -> String {
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Description: a database reading its credentials from a secret, pinned by version
Parameters:
  RotateTokenVersion:
    Type: String
    Default: ""
Resources:
  Database:
    Type: AWS::RDS::DBInstance
    Properties:
      Engine: postgres
      DBInstanceClass: db.t3.micro
      AllocatedStorage: "20"
      MasterUsername: !Sub "{{{{resolve:secretsmanager:{secret_ref}:SecretString:username::${{RotateTokenVersion}}}}}}"
      MasterUserPassword: !Sub "{{{{resolve:secretsmanager:{secret_ref}:SecretString:password::${{RotateTokenVersion}}}}}}"
"#
    )
}

/// The consumer, plus a bucket behind the same condition: the data-loss guard must refuse
/// it (RotateToken=false would delete the bucket and its objects).
pub fn consumer_with_guarded_bucket(secret_ref: &str) -> String {
    consumer_template(secret_ref).replace(
        "Resources:\n",
        "Resources:\n  Uploads:\n    Type: AWS::S3::Bucket\n    Condition: RotateToken\n",
    )
}

/// A consumer whose phase one also creates a resource (a maintenance page shown while
/// the secret's readers are away): what lets phase one itself roll back.
pub fn standby_consumer_template(arn: &str) -> String {
    consumer_template(arn)
        .replace(
            "Resources:\n",
            "  Standby: !Not [!Equals [!Ref RotateToken, \"true\"]]\nResources:\n  MaintenancePage:\n    Type: AWS::SSM::Parameter\n    Condition: Standby\n    Properties:\n      Type: String\n      Value: maintenance\n",
        )
}

/// A consumer as `sam deploy` leaves it: `Transform: AWS::Serverless-2016-10-31`, a guarded
/// `AWS::Serverless::Function` whose environment reads the secret (SAM adds its IAM role),
/// and a plain guarded SSM parameter.
pub fn sam_consumer_template(secret_ref: &str) -> String {
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  RotateToken:
    Type: String
    Default: "true"
    AllowedValues: ["true", "false"]
Conditions:
  RotateToken: !Equals [!Ref RotateToken, "true"]
Resources:
  Reader:
    Type: AWS::Serverless::Function
    Condition: RotateToken
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: "def handler(event, context): return None"
      Environment:
        Variables:
          DB_PASSWORD: "{{{{resolve:secretsmanager:{secret_ref}:SecretString}}}}"
  DatabasePassword:
    Type: AWS::SSM::Parameter
    Condition: RotateToken
    Properties:
      Type: String
      Value: "{{{{resolve:secretsmanager:{secret_ref}:SecretString}}}}"
"#
    )
}

/// A change set once CloudFormation has created it (emulator patch 56: seconds on AWS),
/// looked at every 200 ms, as deploy tools wait for theirs before reading or executing it.
pub async fn change_set_created(
    cfn: &aws_sdk_cloudformation::Client,
    id: &str,
) -> aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput {
    for _ in 0..300 {
        let out = cfn
            .describe_change_set()
            .change_set_name(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe change set {id}: {e:?}"));
        let status = out.status().map(|s| s.as_str()).unwrap_or_default();
        if !matches!(status, "CREATE_PENDING" | "CREATE_IN_PROGRESS") {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("change set {id} still being created after 60 s")
}

/// Deploys a stack the way `sam deploy` does: a CREATE change set with `CAPABILITY_IAM`
/// only, then executed. DescribeStacks then lists no `CAPABILITY_AUTO_EXPAND`.
pub async fn deploy_with_change_set(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
    template: &str,
) -> String {
    let out = cfn
        .create_change_set()
        .stack_name(name)
        .change_set_name("samcli-deploy1")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(template)
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .unwrap_or_else(|e| panic!("change set for {name}: {e:?}"));
    cfn.execute_change_set()
        .change_set_name(out.id().unwrap())
        .send()
        .await
        .unwrap_or_else(|e| panic!("execute change set for {name}: {e:?}"));
    out.stack_id().unwrap().to_string()
}

/// The value a stack's Lambda function holds in one environment variable.
pub async fn function_env(
    cfn: &aws_sdk_cloudformation::Client,
    lambda: &aws_sdk_lambda::Client,
    stack: &str,
    logical_id: &str,
    variable: &str,
) -> Option<String> {
    let name = resources(cfn, stack).await.remove(logical_id)?;
    let config = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .ok()?;
    config.environment()?.variables()?.get(variable).cloned()
}

/// The consumer with an output that stays when `false` removes what it refers to:
/// CloudFormation refuses that update ("Unresolved resource dependencies").
pub fn consumer_with_dangling_output(secret_ref: &str) -> String {
    consumer_template(secret_ref)
        + "Outputs:\n  PasswordParameterName:\n    Value: !Ref DatabasePassword\n"
}

/// The consumer, plus a resource that follows an SSM-typed parameter (`AmiId`, resolved
/// from Parameter Store at `/app/ami` on every update), as an EC2 instance follows its AMI.
pub fn consumer_with_ssm_typed_parameter(secret_ref: &str) -> String {
    consumer_template(secret_ref)
        .replace(
            "  Environment:\n",
            "  AmiId:\n    Type: \"AWS::SSM::Parameter::Value<String>\"\n    Default: /app/ami\n  Environment:\n",
        )
        .replace(
            "Resources:\n",
            "Resources:\n  Server:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: !Ref AmiId\n",
        )
}

/// A stack without the parameter: it must never be touched.
pub fn plain_template(secret_ref: &str) -> String {
    format!(
        r#"Resources:
  Holder:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: "{{{{resolve:secretsmanager:{secret_ref}:SecretString}}}}"
"#
    )
}

pub async fn create_secret(sm: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> String {
    sm.create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string()
}

/// Puts a new value; returns the new version id.
pub async fn put_secret(sm: &aws_sdk_secretsmanager::Client, id: &str, value: &str) -> String {
    sm.put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string()
}

pub async fn create_stack(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
    template: &str,
    params: &[(&str, &str)],
) -> String {
    create_tagged_stack(cfn, name, template, params, &[]).await
}

/// [`create_stack`] with stack tags (e.g. the data-loss guard's opt-in).
pub async fn create_tagged_stack(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
    template: &str,
    params: &[(&str, &str)],
    tags: &[(&str, &str)],
) -> String {
    let mut req = cfn
        .create_stack()
        .stack_name(name)
        .template_body(template)
        .capabilities(Capability::CapabilityIam);
    for (k, v) in params {
        req = req.parameters(
            Parameter::builder()
                .parameter_key(*k)
                .parameter_value(*v)
                .build(),
        );
    }
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(*k).value(*v).build());
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"))
        .stack_id()
        .unwrap()
        .to_string()
}

/// [`create_stack`] with a service role (`RoleARN`), as `cdk deploy` makes its stacks (the
/// bootstrap's cfn-exec role): CloudFormation acts with it, not with the caller's power.
pub async fn create_stack_with_role(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
    template: &str,
    role_arn: &str,
) -> String {
    cfn.create_stack()
        .stack_name(name)
        .template_body(template)
        .capabilities(Capability::CapabilityIam)
        .role_arn(role_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"))
        .stack_id()
        .unwrap()
        .to_string()
}

/// A direct UpdateStack with the stack's previous template: each parameter set to a value,
/// or kept (`None`: UsePreviousValue). What the emulator alone does with an update.
pub async fn update_with_previous_template(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    params: &[(&str, Option<&str>)],
) -> Result<
    aws_sdk_cloudformation::operation::update_stack::UpdateStackOutput,
    aws_sdk_cloudformation::error::SdkError<
        aws_sdk_cloudformation::operation::update_stack::UpdateStackError,
    >,
> {
    let mut req = cfn
        .update_stack()
        .stack_name(stack)
        .use_previous_template(true);
    for (key, value) in params {
        let p = Parameter::builder().parameter_key(*key);
        req = req.parameters(match value {
            Some(v) => p.parameter_value(*v).build(),
            None => p.use_previous_value(true).build(),
        });
    }
    req.send().await
}

/// Logical id -> physical id of a stack's resources.
pub async fn resources(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> BTreeMap<String, String> {
    cfn.describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .unwrap()
        .stack_resources()
        .iter()
        .map(|r| {
            (
                r.logical_resource_id().unwrap_or_default().to_string(),
                r.physical_resource_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

pub async fn stack_status_and_token(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> (String, Option<String>) {
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    let s = &out.stacks()[0];
    let token = s
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("RotateToken"))
        .and_then(|p| p.parameter_value().map(str::to_string));
    (s.stack_status().unwrap().as_str().to_string(), token)
}

pub async fn ssm_value(ssm: &aws_sdk_ssm::Client, name: &str) -> Option<String> {
    ssm.get_parameter()
        .name(name)
        .send()
        .await
        .ok()
        .and_then(|o| o.parameter().and_then(|p| p.value().map(str::to_string)))
}

/// Stacks' update history as the emulator records it: each UPDATE_COMPLETE with the
/// token value it left. Read from DescribeStackEvents.
pub async fn update_events(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> Vec<String> {
    let out = cfn
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    let mut statuses: Vec<String> = out
        .stack_events()
        .iter()
        .filter(|e| e.logical_resource_id() == Some(stack))
        .filter_map(|e| e.resource_status().map(|s| s.as_str().to_string()))
        .collect();
    statuses.reverse();
    statuses
}

/// The secret ARN and version written in the files of `events/`.
pub const SAMPLE_SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password-AbCdEf";
pub const SAMPLE_VERSION: &str = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111";

/// A shipped event from `events/`, pointed at a real secret and version of the emulator.
pub fn sample_event(file: &str, arn: &str, version: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(crate::repo_root().join("events").join(file)).unwrap();
    serde_json::from_str(
        &text
            .replace(SAMPLE_SECRET_ARN, arn)
            .replace(SAMPLE_VERSION, version),
    )
    .unwrap()
}

/// A root stack that hands its token to one nested stack, as `aws cloudformation package`
/// and the CDK leave them: the child template in S3 (`TemplateURL`), the root passing
/// `RotateToken: !Ref RotateToken` down. With `root_has_token` false the root has no token
/// parameter and passes the child `"true"`: the child can never be refreshed. The child is
/// `child_template` (a [`consumer_template`] reads the secret).
pub async fn create_nested_consumer(
    config: &aws_config::SdkConfig,
    root: &str,
    child_template: &str,
    root_has_token: bool,
) -> NestedConsumer {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("templates-{}", root.to_lowercase());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("child.yaml")
        .body(child_template.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let (parameters, value) = if root_has_token {
        (
            "Parameters:\n  RotateToken:\n    Type: String\n    Default: \"true\"\n    AllowedValues: [\"true\", \"false\"]\n",
            "!Ref RotateToken",
        )
    } else {
        ("", "\"true\"")
    };
    let template = format!(
        "AWSTemplateFormatVersion: \"2010-09-09\"\n{parameters}Resources:\n  Database:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: https://s3.amazonaws.com/{bucket}/child.yaml\n      Parameters:\n        RotateToken: {value}\n"
    );
    let cfn = aws_sdk_cloudformation::Client::new(config);
    let root_id = create_stack(&cfn, root, &template, &[]).await;
    let stacks = cfn.describe_stacks().send().await.unwrap();
    let child = stacks
        .stacks()
        .iter()
        .find(|s| {
            s.parent_id().is_some()
                && s.stack_name()
                    .is_some_and(|n| n.starts_with(&format!("{root}-Database-")))
        })
        .and_then(|s| s.stack_name())
        .expect("the nested stack exists")
        .to_string();
    NestedConsumer { root_id, child }
}

/// What [`create_nested_consumer`] made.
pub struct NestedConsumer {
    pub root_id: String,
    /// The nested stack's name (`<root>-Database-<suffix>`).
    pub child: String,
}

/// An AWS Organizations organisation in the emulator, for OU targets.
pub struct Organization {
    pub client: aws_sdk_organizations::Client,
    pub root: String,
}

impl Organization {
    /// Creates the organisation (all features) in the account of `config`.
    pub async fn create(config: &aws_config::SdkConfig) -> Self {
        let client = aws_sdk_organizations::Client::new(config);
        client
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .unwrap();
        let root = client.list_roots().send().await.unwrap().roots()[0]
            .id()
            .unwrap()
            .to_string();
        Self { client, root }
    }

    /// A new OU under `parent`; its id.
    pub async fn ou(&self, parent: &str, name: &str) -> String {
        self.client
            .create_organizational_unit()
            .parent_id(parent)
            .name(name)
            .send()
            .await
            .unwrap()
            .organizational_unit()
            .unwrap()
            .id()
            .unwrap()
            .to_string()
    }

    /// The id of the organisation's account named `name` (made by [`Organization::account`]
    /// in a setup whose ids the test did not keep), read with the management account's
    /// `config`.
    pub async fn account_named(config: &aws_config::SdkConfig, name: &str) -> String {
        aws_sdk_organizations::Client::new(config)
            .list_accounts()
            .send()
            .await
            .unwrap()
            .accounts()
            .iter()
            .find(|a| a.name() == Some(name))
            .and_then(|a| a.id())
            .unwrap_or_else(|| panic!("no account named {name} in the organisation"))
            .to_string()
    }

    /// A new member account, moved under `parent` when given (else left at the root).
    pub async fn account(&self, name: &str, parent: Option<&str>) -> String {
        let id = self
            .client
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .unwrap()
            .create_account_status()
            .unwrap()
            .account_id()
            .unwrap()
            .to_string();
        if let Some(parent) = parent {
            self.client
                .move_account()
                .account_id(&id)
                .source_parent_id(&self.root)
                .destination_parent_id(parent)
                .send()
                .await
                .unwrap();
        }
        id
    }
}

/// A stack policy that denies deleting the consumer's `DatabasePassword` (phase one's delete).
pub const PROTECT_PASSWORD: &str = r#"{"Statement":[
  {"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"},
  {"Effect":"Deny","Action":"Update:Delete","Principal":"*","Resource":"LogicalResourceId/DatabasePassword"}]}"#;

/// The consumer stack `app` (secret `prod/db`) with [`PROTECT_PASSWORD`] as its stack policy.
pub async fn create_protected_stack(cfn: &aws_sdk_cloudformation::Client) -> String {
    let id = create_stack(cfn, "app", &consumer_template("prod/db"), &[]).await;
    cfn.set_stack_policy()
        .stack_name("app")
        .stack_policy_body(PROTECT_PASSWORD)
        .send()
        .await
        .unwrap();
    id
}
