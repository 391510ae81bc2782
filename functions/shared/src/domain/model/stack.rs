//! Stacks as the product sees them: references, snapshots and their parameters, the tags
//! it reads, and what CloudFormation plans for an update.

use serde::{Deserialize, Serialize};

use crate::domain::error::InputError;

/// One CloudFormation stack, wherever it lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
pub struct StackRef {
    pub account: String,
    pub region: String,
    pub name: String,
    /// The stack ARN (`StackId`), which stays unique even when a name is reused.
    pub id: String,
}

impl StackRef {
    /// Builds a reference from a stack ARN:
    /// `arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>`.
    pub fn from_stack_id(id: &str) -> Result<Self, InputError> {
        let parts: Vec<&str> = id.splitn(6, ':').collect();
        let bad = || {
            InputError::new(
                "StackId",
                format!("`{id}` is not a CloudFormation stack ARN"),
            )
        };
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "cloudformation" {
            return Err(bad());
        }
        let mut resource = parts[5].splitn(3, '/');
        if resource.next() != Some("stack") {
            return Err(bad());
        }
        let name = resource.next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
        if parts[3].is_empty() || parts[4].is_empty() {
            return Err(bad());
        }
        Ok(Self {
            account: parts[4].to_string(),
            region: parts[3].to_string(),
            name: name.to_string(),
            id: id.to_string(),
        })
    }
}

/// A parameter as CloudFormation reports it on a stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackParameter {
    pub key: String,
    pub value: Option<String>,
}

/// What the domain needs to know about a described stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSnapshot {
    pub stack: StackRef,
    pub status: String,
    pub status_reason: Option<String>,
    pub parameters: Vec<StackParameter>,
    pub capabilities: Vec<String>,
    /// Set for nested stacks, which must be updated through their root stack: the direct
    /// parent's stack id.
    pub parent_id: Option<String>,
    /// For nested stacks, the top-level stack's id.
    pub root_id: Option<String>,
    /// The stack's tags (key, value).
    pub tags: Vec<(String, String)>,
    /// Rollback triggers' monitoring time (`RollbackConfiguration.MonitoringTimeInMinutes`):
    /// CloudFormation keeps every update in progress that much longer, 0 to 180 minutes.
    pub rollback_monitoring_minutes: u32,
    /// The stack's service role (`RoleARN`): CloudFormation acts with it, not with the
    /// caller's credentials (`domain::service_role`).
    pub service_role: Option<String>,
    /// When its last operation that could change its template began (`LastUpdatedTime`,
    /// or `CreationTime` before its first update), epoch ms; `None` when AWS says neither.
    pub last_changed_ms: Option<u64>,
}

/// The resource type of a nested stack (its physical id is the child's stack id).
pub const NESTED_STACK_TYPE: &str = "AWS::CloudFormation::Stack";

/// The per-stack opt-in for a phase one that changes more than the guarded resources
/// (an SSM-typed parameter resolved again, say): tag value `true`, any case.
pub const ALLOW_SIDE_CHANGES_TAG: &str = "rotatetoken:allow-side-changes";

/// The data-loss guard's per-stack opt-in (`domain::guard`): `true` lets phase one delete
/// or replace a data-holding resource.
pub const ALLOW_DATA_LOSS_TAG: &str = "rotatetoken:allow-data-loss";

#[cfg(test)]
impl StackSnapshot {
    /// An updatable stack (UPDATE_COMPLETE) with these parameters, no tags: for unit tests.
    pub fn for_test(stack_id: &str, parameters: &[(&str, &str)]) -> Self {
        Self {
            stack: StackRef::from_stack_id(stack_id).unwrap(),
            status: "UPDATE_COMPLETE".into(),
            status_reason: None,
            parameters: parameters
                .iter()
                .map(|(k, v)| StackParameter {
                    key: (*k).into(),
                    value: Some((*v).into()),
                })
                .collect(),
            capabilities: vec![],
            parent_id: None,
            root_id: None,
            tags: vec![],
            rollback_monitoring_minutes: 0,
            service_role: None,
            last_changed_ms: None,
        }
    }
}

impl StackSnapshot {
    /// `: <StackStatusReason>`, or nothing when CloudFormation gave none.
    pub fn reason_suffix(&self) -> String {
        self.status_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    }

    pub fn allows_side_changes(&self) -> bool {
        self.tags
            .iter()
            .any(|(k, v)| k == ALLOW_SIDE_CHANGES_TAG && v.eq_ignore_ascii_case("true"))
    }

    /// The data-loss guard's per-stack opt-in (tag value `true`, any case).
    pub fn allows_data_loss(&self) -> bool {
        self.tags
            .iter()
            .any(|(k, v)| k == ALLOW_DATA_LOSS_TAG && v.eq_ignore_ascii_case("true"))
    }

    /// Every parameter key but the token's: kept with `UsePreviousValue`.
    pub fn other_parameter_keys(&self, token: &str) -> Vec<String> {
        self.parameters
            .iter()
            .filter(|p| p.key != token)
            .map(|p| p.key.clone())
            .collect()
    }

    pub fn parameter(&self, key: &str) -> Option<&StackParameter> {
        self.parameters.iter().find(|p| p.key == key)
    }
}

/// One resource change CloudFormation plans for an update (a change set's
/// `Changes[].ResourceChange`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChange {
    /// `Add`, `Modify`, `Remove`...
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for a `Modify`.
    pub replacement: Option<String>,
    /// What causes it: the `CausingEntity` of each detail (a parameter name, a resource).
    pub causes: Vec<String>,
    /// The properties whose change requires recreation (`Details[].Target.Name` with
    /// `RequiresRecreation` Always or Conditionally).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recreates: Vec<String>,
}

/// A begun preview (a change set created by an earlier look), read once without waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewRead {
    /// CloudFormation is still creating it: look again after a pause. Since when
    /// (its `CreationTime`, epoch ms): how long it has been waited for is AWS's to say.
    Pending { created_ms: Option<u64> },
    /// Created and read (then deleted): what the update would change, and the change
    /// set's description (which names the inputs it was made with: `UpdatePlan::inputs_mark`).
    Ready {
        changes: Vec<PlannedChange>,
        description: String,
    },
    /// CloudFormation could not create it (its `StatusReason`), and its description:
    /// the update itself would fail the same way when it was made with the update's inputs
    /// (a template or a parameter it cannot resolve). Deleted.
    Failed { reason: String, description: String },
    /// Made before the stack was updated again (ExecutionStatus `OBSOLETE`), deleted: it
    /// says nothing about the stack now, and a new one must be begun.
    Obsolete,
    /// There is none by that name (never created, or deleted since): begin one.
    Missing,
}

/// What one update does (in a dry run: would do) to the stack's resources, as
/// CloudFormation says in a change set with the same inputs. Each resource as
/// `LogicalId (Type)`; a nested stack's as `path/LogicalId (Type)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedUpdate {
    /// The parameter the update sets: `RotateToken=false`, `RotateTokenVersion=<id>`.
    pub sets: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create: Vec<String>,
    /// Updated in place: the resource keeps its physical id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modify: Vec<String>,
    /// Replaced: a new resource (new physical id), the old one deleted. `Replacement:
    /// Conditional` counts here too, marked `(may be replaced)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<String>,
}

impl PlannedUpdate {
    pub fn from_changes(sets: String, changes: &[PlannedChange]) -> Self {
        let mut plan = PlannedUpdate {
            sets,
            ..Default::default()
        };
        for c in changes {
            let named = format!("{} ({})", c.logical_id, c.resource_type);
            match (c.action.as_str(), c.replacement.as_deref()) {
                ("Remove", _) => plan.delete.push(named),
                ("Add", _) => plan.create.push(named),
                ("Modify", Some("True")) => plan.replace.push(named),
                ("Modify", Some("Conditional")) => {
                    plan.replace.push(format!("{named} (may be replaced)"))
                }
                ("Modify", _) => plan.modify.push(named),
                // Import, Dynamic, SyncWithActual: said as they are.
                (other, _) => plan.modify.push(format!("{named} ({other})")),
            }
        }
        plan
    }

    /// Phase two of the pattern, which cannot be previewed before phase one has run: it
    /// undoes phase one, recreating what phase one deletes (a new physical id each).
    pub fn undone(&self, sets: String) -> Self {
        PlannedUpdate {
            sets,
            delete: self.create.clone(),
            create: self.delete.clone(),
            modify: self.modify.clone(),
            replace: self.replace.clone(),
        }
    }

    /// The resources the update changes: what it puts in CloudFormation's "resources in
    /// concurrent stack operations".
    pub fn resources(&self) -> u32 {
        (self.delete.len() + self.create.len() + self.modify.len() + self.replace.len()) as u32
    }

    /// One line for people: `RotateToken=false: delete A (T), B (T); modify C (T)`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("delete", &self.delete),
            ("create", &self.create),
            ("modify", &self.modify),
            ("replace", &self.replace),
        ]
        .iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(verb, list)| format!("{verb} {}", list.join(", ")))
        .collect();
        if parts.is_empty() {
            format!("{}: no resource changes", self.sets)
        } else {
            format!("{}: {}", self.sets, parts.join("; "))
        }
    }
}
