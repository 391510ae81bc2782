//! AWS Organizations: the active accounts under the organisational units the deployment
//! names, listed at run time (the pipeline must run in the management account or a
//! delegated administrator account for these calls to be allowed). Child OUs are walked
//! too, as StackSets do for OU deployment targets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_organizations::types::AccountStatus;
use aws_sdk_organizations::Client;

use super::aws_error;
use crate::ports::{AccountDirectory, AwsError};

/// Refresh checks membership once per stack; a short cache keeps that to a few calls per
/// warm container while still seeing an account moved out of the OU within a minute.
const CACHE_FOR: Duration = Duration::from_secs(60);

pub struct Organizations {
    client: Client,
    cache: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl Organizations {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn list(&self, root_or_ou: &str) -> Result<Vec<String>, AwsError> {
        let mut accounts = Vec::new();
        let mut parents = vec![root_or_ou.to_string()];
        while let Some(parent) = parents.pop() {
            let mut pages = self
                .client
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("ListAccountsForParent", &e))?;
                accounts.extend(
                    page.accounts()
                        .iter()
                        .filter(|a| a.status() == Some(&AccountStatus::Active))
                        .filter_map(|a| a.id().map(str::to_string)),
                );
            }
            let mut children = self
                .client
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = children.next().await {
                let page = page.map_err(|e| aws_error("ListOrganizationalUnitsForParent", &e))?;
                parents.extend(
                    page.organizational_units()
                        .iter()
                        .filter_map(|ou| ou.id().map(str::to_string)),
                );
            }
        }
        accounts.sort();
        accounts.dedup();
        Ok(accounts)
    }
}

impl AccountDirectory for Organizations {
    async fn active_accounts(&self, root_or_ou: &str) -> Result<Vec<String>, AwsError> {
        if let Some((at, accounts)) = self.cache.lock().expect("ou cache").get(root_or_ou) {
            if at.elapsed() < CACHE_FOR {
                return Ok(accounts.clone());
            }
        }
        let accounts = self.list(root_or_ou).await?;
        self.cache
            .lock()
            .expect("ou cache")
            .insert(root_or_ou.to_string(), (Instant::now(), accounts.clone()));
        Ok(accounts)
    }
}
