//! The agent's own expiry sweeper (DESIGN §5.4, the second of three), token restore after a
//! restart, and the namespace list reported to central.
//!
//! The sweeper needs nothing from central: it lists every `managed-by=janus` RoleBinding and
//! ServiceAccount and deletes those whose `expires-at` has passed — RoleBindings first. An
//! object whose annotation is missing or unreadable is treated as expired (fail closed).

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};

use super::{KubeFailure, Kubernetes, expires_at_of, is_dns_label, managed_selector, request_of};

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepSummary {
    pub role_bindings_deleted: usize,
    pub service_accounts_deleted: usize,
    /// Tokens dropped from the vault (of deleted objects, or simply past their end).
    pub tokens_dropped: usize,
}

impl Kubernetes {
    /// Deletes every managed RoleBinding, then every managed ServiceAccount, whose
    /// `expires-at` is not after `now`, and drops their tokens. Goes on past a failed
    /// delete and returns the first failure after trying everything.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepSummary, KubeFailure> {
        let mut summary = SweepSummary::default();
        let mut first_failure = None;
        let listing = ListParams::default().labels(&managed_selector());

        match Api::<RoleBinding>::all(self.client.clone()).list(&listing).await {
            Ok(list) => {
                for binding in list
                    .items
                    .iter()
                    .filter(|binding| is_expired(&binding.metadata, now))
                {
                    match self
                        .delete_object::<RoleBinding>(&binding.metadata, "rolebinding")
                        .await
                    {
                        Ok(()) => {
                            summary.role_bindings_deleted += 1;
                            summary.tokens_dropped += self.drop_token(&binding.metadata);
                        }
                        Err(failure) => {
                            first_failure.get_or_insert(failure);
                        }
                    }
                }
            }
            Err(error) => {
                first_failure.get_or_insert(KubeFailure::from_kube("list", "rolebindings", None, &error));
            }
        }

        match Api::<ServiceAccount>::all(self.client.clone())
            .list(&listing)
            .await
        {
            Ok(list) => {
                for account in list
                    .items
                    .iter()
                    .filter(|account| is_expired(&account.metadata, now))
                {
                    match self
                        .delete_object::<ServiceAccount>(&account.metadata, "serviceaccount")
                        .await
                    {
                        Ok(()) => {
                            summary.service_accounts_deleted += 1;
                            summary.tokens_dropped += self.drop_token(&account.metadata);
                        }
                        Err(failure) => {
                            first_failure.get_or_insert(failure);
                        }
                    }
                }
            }
            Err(error) => {
                first_failure.get_or_insert(KubeFailure::from_kube("list", "serviceaccounts", None, &error));
            }
        }

        summary.tokens_dropped += self.vault.remove_expired(now);
        match first_failure {
            Some(failure) => Err(failure),
            None => Ok(summary),
        }
    }

    fn drop_token(&self, metadata: &ObjectMeta) -> usize {
        match (request_of(metadata), metadata.namespace.as_deref()) {
            (Some(request_id), Some(namespace)) => usize::from(self.vault.remove(request_id, namespace)),
            _ => 0,
        }
    }

    /// After a restart: mints a new token for every managed ServiceAccount whose grant has
    /// not ended and whose token is not in the vault. Creates no object. Returns how many
    /// tokens were minted; a failure for one account is logged and the rest go on.
    pub async fn restore_tokens(&self, now: DateTime<Utc>) -> Result<usize, KubeFailure> {
        let listing = ListParams::default().labels(&managed_selector());
        let accounts = Api::<ServiceAccount>::all(self.client.clone())
            .list(&listing)
            .await
            .map_err(|error| KubeFailure::from_kube("list", "serviceaccounts", None, &error))?;
        let mut minted = 0;
        for account in accounts.items {
            let metadata = &account.metadata;
            let (Some(request_id), Some(namespace)) = (request_of(metadata), metadata.namespace.as_deref())
            else {
                continue;
            };
            if !is_dns_label(request_id) {
                continue;
            }
            let Ok(expires_at) = expires_at_of(metadata) else {
                continue; // the sweeper deletes it
            };
            if expires_at <= now || self.vault.token_for(request_id, namespace, now).is_some() {
                continue;
            }
            match self.mint_token(request_id, namespace, expires_at, now).await {
                Ok(entry) => {
                    self.vault.insert(request_id, namespace, entry);
                    minted += 1;
                    tracing::info!(request_id, namespace, "token re-minted for a live grant");
                }
                Err(failure) => {
                    tracing::warn!(request_id, namespace, error = %failure, "could not re-mint a grant's token");
                }
            }
        }
        Ok(minted)
    }

    /// The names of the cluster's namespaces, sorted (terminating ones left out).
    pub async fn namespaces(&self) -> Result<Vec<String>, KubeFailure> {
        let list = Api::<Namespace>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|error| KubeFailure::from_kube("list", "namespaces", None, &error))?;
        let mut names: Vec<String> = list
            .items
            .into_iter()
            .filter(|namespace| {
                namespace.metadata.deletion_timestamp.is_none()
                    && namespace
                        .status
                        .as_ref()
                        .and_then(|status| status.phase.as_deref())
                        != Some("Terminating")
            })
            .filter_map(|namespace| namespace.metadata.name)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// True when the object's grant has ended at `now`, or when its `expires-at` cannot be
/// read (fail closed; logged).
fn is_expired(metadata: &ObjectMeta, now: DateTime<Utc>) -> bool {
    match expires_at_of(metadata) {
        Ok(expires_at) => expires_at <= now,
        Err(problem) => {
            tracing::warn!(
                namespace = metadata.namespace.as_deref().unwrap_or_default(),
                name = metadata.name.as_deref().unwrap_or_default(),
                request_id = request_of(metadata).unwrap_or_default(),
                problem,
                "managed object without a readable expiry; treating it as expired"
            );
            true
        }
    }
}
