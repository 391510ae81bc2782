//! Whose permissions a refresh's update uses. CloudFormation creates and deletes a stack's
//! resources with the stack's service role when it has one (`RoleARN`), and otherwise with
//! the credentials of whoever calls UpdateStack ("If no role is available, CloudFormation
//! uses a temporary session that is generated from your user credentials": UpdateStack,
//! `RoleARN`, CloudFormation API reference). For a stack without one that caller is the
//! pipeline's target role, with `GuardedResourcePolicyArn`: whoever may create stacks in a
//! target account could write a template whose guarded resources (an IAM role, a
//! parameter resolving another secret) are then built with the pipeline's power. So a
//! stack without a service role is updated only where an administrator listed it
//! (`StacksWithoutServiceRole`, a deploy parameter of stack ARN patterns, which a stack's
//! author cannot set); a stack's tags could not be trusted for this, its author sets them.

use super::model::StackSnapshot;
use super::stack_policy::glob;

/// The stacks an administrator allows to be updated without a service role: stack ARN
/// patterns (`*` any run of characters, `?` one), as IAM's `StringLike`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StacksWithoutServiceRole {
    every: bool,
    patterns: Vec<String>,
}

impl StacksWithoutServiceRole {
    /// None: every stack needs a service role (the default).
    pub const fn none() -> Self {
        Self {
            every: false,
            patterns: Vec::new(),
        }
    }

    /// Every stack, with or without a service role (`*`).
    pub const fn any() -> Self {
        Self {
            every: true,
            patterns: Vec::new(),
        }
    }

    /// Comma-separated stack ARN patterns; empty: none. Each must be `*` or a stack ARN
    /// pattern, so that a stack name given by mistake is refused rather than matching
    /// nothing in silence.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut listed = Self::none();
        for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if p == "*" {
                listed.every = true;
            } else if p.starts_with("arn:") && p.split(':').count() >= 6 {
                listed.patterns.push(p.to_string());
            } else {
                return Err(format!(
                    "`{p}` is not a stack ARN pattern (arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>, `*` allowed) nor `*`"
                ));
            }
        }
        Ok(listed)
    }

    fn allows(&self, stack_id: &str) -> bool {
        self.every || self.patterns.iter().any(|p| glob(p, stack_id))
    }
}

/// Why the pipeline may not update this stack, if so: it has no service role, and no
/// administrator listed it.
pub fn borrows_pipeline_power(
    snapshot: &StackSnapshot,
    allowed: &StacksWithoutServiceRole,
) -> Option<String> {
    let has_role = snapshot
        .service_role
        .as_deref()
        .is_some_and(|r| !r.is_empty());
    (!has_role && !allowed.allows(&snapshot.stack.id)).then(|| {
        "refused: the stack has no service role, so CloudFormation would create and delete its \
         resources with the pipeline's own permissions, chosen by whoever wrote its template; \
         give it a service role (aws cloudformation update-stack --role-arn ... \
         --use-previous-template), or an administrator may list it in the RotateToken \
         stack's StacksWithoutServiceRole"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "arn:aws:cloudformation:us-east-1:111111111111:stack/app/1a2b";

    fn stack(role: Option<&str>) -> StackSnapshot {
        let mut s = StackSnapshot::for_test(ID, &[("RotateToken", "true")]);
        s.service_role = role.map(str::to_string);
        s
    }

    #[test]
    fn a_stack_without_a_service_role_is_refused_by_default() {
        let reason = borrows_pipeline_power(&stack(None), &StacksWithoutServiceRole::none())
            .expect("refused");
        assert!(reason.contains("no service role"), "{reason}");
        assert!(reason.contains("StacksWithoutServiceRole"), "{reason}");
        assert!(
            borrows_pipeline_power(&stack(Some("")), &StacksWithoutServiceRole::none()).is_some(),
            "an empty role is no role"
        );
    }

    #[test]
    fn a_stack_with_a_service_role_is_updated_with_that_role() {
        let role = "arn:aws:iam::111111111111:role/cdk-hnb659fds-cfn-exec-role";
        assert_eq!(
            borrows_pipeline_power(&stack(Some(role)), &StacksWithoutServiceRole::none()),
            None
        );
    }

    #[test]
    fn an_administrator_lists_stacks_without_a_service_role_by_arn_pattern() {
        let listed =
            StacksWithoutServiceRole::parse("arn:aws:cloudformation:*:111111111111:stack/app/*")
                .unwrap();
        assert_eq!(borrows_pipeline_power(&stack(None), &listed), None);
        let other =
            StacksWithoutServiceRole::parse("arn:aws:cloudformation:*:222222222222:stack/*")
                .unwrap();
        assert!(borrows_pipeline_power(&stack(None), &other).is_some());
        assert_eq!(
            borrows_pipeline_power(&stack(None), &StacksWithoutServiceRole::any()),
            None
        );
        assert_eq!(
            StacksWithoutServiceRole::parse(" , ").unwrap(),
            StacksWithoutServiceRole::none()
        );
    }

    #[test]
    fn a_pattern_that_is_not_a_stack_arn_is_refused_with_its_text() {
        let e = StacksWithoutServiceRole::parse("app-*").unwrap_err();
        assert!(e.contains("`app-*` is not a stack ARN pattern"), "{e}");
    }
}
