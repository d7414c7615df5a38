//! Grant and cleanup of one request (DESIGN §5.3).
//!
//! A grant creates, per namespace, the ServiceAccount `janus-<id>` and the RoleBinding
//! `janus-<id>` to the profile's ClusterRole, then mints a token. Names are deterministic,
//! so a repeated grant finds its objects (409 AlreadyExists), checks they are its own,
//! moves the `expires-at` annotation if it changed (an extension) and re-mints the token.
//! A failure in any namespace rolls back everything of the request. Cleanup deletes by
//! label, RoleBindings first (authorization ends at once), then ServiceAccounts.

use chrono::{DateTime, TimeDelta, Utc};
use janus_wire::agent_protocol::{ANNOTATION_EXPIRES_AT, GrantSpec};
use janus_wire::secret::Secret;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{
    KubeFailure, Kubernetes, belongs_to, format_expires_at, grant_labels, grant_metadata, is_already_exists,
    is_dns_label, is_not_found, object_name, request_selector,
};
use crate::vault::VaultEntry;

/// The shortest token Kubernetes issues (TokenRequest `expirationSeconds` minimum).
pub const MIN_TOKEN_SECONDS: i64 = 600;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Why a grant or a cleanup failed: the text reported to central.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The work item itself is unusable (bad id, no namespaces, already expired).
    #[error("{0}")]
    Invalid(String),
    /// Kubernetes refused or failed a call.
    #[error("{0}")]
    Kube(#[from] KubeFailure),
    /// A grant failed, and so did (part of) its rollback.
    #[error("{failure}; rollback also failed: {rollback}")]
    RollbackFailed {
        failure: Box<GrantError>,
        rollback: KubeFailure,
    },
}

/// What a cleanup deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub role_bindings: usize,
    pub service_accounts: usize,
}

/// Whether an ensure call created the object, changed it or found it as wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ensured {
    Created,
    Updated,
    Unchanged,
}

impl Kubernetes {
    /// Creates (or confirms) the objects of `spec` in every namespace and mints their
    /// tokens into the vault. All or nothing: on failure everything of the request is
    /// deleted again and its tokens dropped.
    pub async fn grant(&self, spec: &GrantSpec) -> Result<(), GrantError> {
        validate(spec)?;
        let now = self.clock.now();
        if spec.expires_at <= now {
            return Err(GrantError::Invalid(format!(
                "the grant already ended at {}; nothing was created",
                format_expires_at(spec.expires_at)
            )));
        }
        let mut minted = Vec::with_capacity(spec.namespaces.len());
        for namespace in &spec.namespaces {
            match self.grant_namespace(spec, namespace, now).await {
                Ok(entry) => minted.push((namespace, entry)),
                Err(failure) => {
                    tracing::warn!(
                        request_id = %spec.request_id, cluster = %spec.cluster, namespace = %namespace,
                        error = %failure, "grant failed; rolling back every namespace of the request"
                    );
                    self.vault.remove_request(&spec.request_id);
                    return match self.delete_request_objects(&spec.request_id).await {
                        Ok(deleted) => {
                            tracing::info!(
                                request_id = %spec.request_id, cluster = %spec.cluster,
                                role_bindings = deleted.role_bindings,
                                service_accounts = deleted.service_accounts, "grant rolled back"
                            );
                            Err(failure.into())
                        }
                        Err(rollback) => {
                            tracing::error!(
                                request_id = %spec.request_id, cluster = %spec.cluster, error = %rollback,
                                "rollback of a failed grant failed; cleanup or the sweeper will finish it"
                            );
                            Err(GrantError::RollbackFailed {
                                failure: Box::new(failure.into()),
                                rollback,
                            })
                        }
                    };
                }
            }
        }
        for (namespace, entry) in minted {
            self.vault.insert(&spec.request_id, namespace, entry);
        }
        Ok(())
    }

    async fn grant_namespace(
        &self,
        spec: &GrantSpec,
        namespace: &str,
        now: DateTime<Utc>,
    ) -> Result<VaultEntry, KubeFailure> {
        let service_account = self.ensure_service_account(spec, namespace).await?;
        let role_binding = self.ensure_role_binding(spec, namespace).await?;
        tracing::debug!(
            request_id = %spec.request_id, cluster = %spec.cluster, namespace,
            service_account = ?service_account, role_binding = ?role_binding, "grant objects in place"
        );
        self.mint_token(&spec.request_id, namespace, spec.expires_at, now)
            .await
    }

    async fn ensure_service_account(
        &self,
        spec: &GrantSpec,
        namespace: &str,
    ) -> Result<Ensured, KubeFailure> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let desired = ServiceAccount {
            metadata: grant_metadata(&spec.request_id, namespace, spec.expires_at),
            automount_service_account_token: Some(false),
            ..ServiceAccount::default()
        };
        let name = object_name(&spec.request_id);
        let Some(existing) = create_or_get(&api, &desired, spec, "serviceaccount", namespace).await? else {
            return Ok(Ensured::Created);
        };
        let metadata_ok = metadata_matches(&existing.metadata, spec);
        if metadata_ok && existing.automount_service_account_token == Some(false) {
            return Ok(Ensured::Unchanged);
        }
        let patch = json!({
            "metadata": metadata_patch(spec),
            "automountServiceAccountToken": false,
        });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|error| KubeFailure::from_kube("patch", "serviceaccount", Some(namespace), &error))?;
        Ok(Ensured::Updated)
    }

    async fn ensure_role_binding(&self, spec: &GrantSpec, namespace: &str) -> Result<Ensured, KubeFailure> {
        let api: Api<RoleBinding> = Api::namespaced(self.client.clone(), namespace);
        let name = object_name(&spec.request_id);
        let subjects = vec![Subject {
            api_group: None,
            kind: "ServiceAccount".to_owned(),
            name: name.clone(),
            namespace: Some(namespace.to_owned()),
        }];
        let desired = RoleBinding {
            metadata: grant_metadata(&spec.request_id, namespace, spec.expires_at),
            role_ref: RoleRef {
                api_group: Some(RBAC_GROUP.to_owned()),
                kind: "ClusterRole".to_owned(),
                name: spec.cluster_role.clone(),
            },
            subjects: Some(subjects.clone()),
        };
        let Some(existing) = create_or_get(&api, &desired, spec, "rolebinding", namespace).await? else {
            return Ok(Ensured::Created);
        };
        if existing.role_ref.kind != "ClusterRole" || existing.role_ref.name != spec.cluster_role {
            // roleRef is immutable; a binding to another role is not this grant's.
            return Err(KubeFailure::new(
                "check",
                "rolebinding",
                Some(namespace),
                format!(
                    "rolebinding {name} binds {} {:?}, not ClusterRole {:?}; delete it and retry",
                    existing.role_ref.kind, existing.role_ref.name, spec.cluster_role
                ),
            ));
        }
        let subjects_ok = existing.subjects.as_deref().is_some_and(|existing| {
            existing.len() == 1
                && existing[0].kind == "ServiceAccount"
                && existing[0].name == name
                && existing[0].namespace.as_deref() == Some(namespace)
        });
        if subjects_ok && metadata_matches(&existing.metadata, spec) {
            return Ok(Ensured::Unchanged);
        }
        let patch = json!({ "metadata": metadata_patch(spec), "subjects": subjects });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|error| KubeFailure::from_kube("patch", "rolebinding", Some(namespace), &error))?;
        Ok(Ensured::Updated)
    }

    /// Mints a token for the grant's ServiceAccount in `namespace`, valid for the rest of
    /// the grant (at least [`MIN_TOKEN_SECONDS`]).
    pub(crate) async fn mint_token(
        &self,
        request_id: &str,
        namespace: &str,
        grant_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<VaultEntry, KubeFailure> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let seconds = token_seconds(grant_expires_at, now);
        let request = TokenRequest {
            metadata: ObjectMeta::default(),
            spec: Some(TokenRequestSpec {
                audiences: Some(Vec::new()),
                expiration_seconds: Some(seconds),
                ..TokenRequestSpec::default()
            }),
            status: None,
        };
        let answer = api
            .create_token_request(&object_name(request_id), &PostParams::default(), &request)
            .await
            .map_err(|error| {
                KubeFailure::from_kube("request a token for", "serviceaccount", Some(namespace), &error)
            })?;
        let status = answer.status.unwrap_or_default();
        let token = status.token.filter(|token| !token.is_empty()).ok_or_else(|| {
            KubeFailure::new(
                "request a token for",
                "serviceaccount",
                Some(namespace),
                "the TokenRequest answer carried no token".to_owned(),
            )
        })?;
        let token_expires_at = status
            .expiration_timestamp
            .and_then(|time| {
                DateTime::from_timestamp(time.0.as_second(), time.0.subsec_nanosecond().unsigned_abs())
            })
            .unwrap_or(now + TimeDelta::seconds(seconds));
        Ok(VaultEntry {
            token: Secret::new(token),
            token_expires_at,
            grant_expires_at,
        })
    }

    /// Deletes every object of a request and drops its tokens. 404 is success.
    pub async fn cleanup(&self, request_id: &str) -> Result<Deleted, GrantError> {
        if !is_dns_label(request_id) {
            return Err(GrantError::Invalid(format!(
                "request id {request_id:?} is not a valid Kubernetes label value"
            )));
        }
        self.vault.remove_request(request_id);
        Ok(self.delete_request_objects(request_id).await?)
    }

    /// Lists the request's RoleBindings cluster-wide by label and deletes each, then its
    /// ServiceAccounts. Goes on past a failed delete and returns the first failure.
    async fn delete_request_objects(&self, request_id: &str) -> Result<Deleted, KubeFailure> {
        let selector = ListParams::default().labels(&request_selector(request_id));
        let mut first_failure = None;
        // RoleBindings first: authorization ends the moment they are gone.
        let role_bindings = self
            .delete_labelled::<RoleBinding>(&selector, "rolebinding", "rolebindings", &mut first_failure)
            .await;
        let service_accounts = self
            .delete_labelled::<ServiceAccount>(
                &selector,
                "serviceaccount",
                "serviceaccounts",
                &mut first_failure,
            )
            .await;
        match first_failure {
            Some(failure) => Err(failure),
            None => Ok(Deleted {
                role_bindings,
                service_accounts,
            }),
        }
    }

    /// Deletes every object of kind `K` matching `selector`, cluster-wide; counts the
    /// deletions and keeps the first failure.
    async fn delete_labelled<K>(
        &self,
        selector: &ListParams,
        kind: &'static str,
        plural: &'static str,
        first_failure: &mut Option<KubeFailure>,
    ) -> usize
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let objects: Api<K> = Api::all(self.client.clone());
        let mut deleted = 0;
        match objects.list(selector).await {
            Ok(list) => {
                for object in list.items {
                    match self.delete_object::<K>(object.meta(), kind).await {
                        Ok(()) => deleted += 1,
                        Err(failure) => {
                            first_failure.get_or_insert(failure);
                        }
                    }
                }
            }
            Err(error) => {
                first_failure.get_or_insert(KubeFailure::from_kube("list", plural, None, &error));
            }
        }
        deleted
    }

    /// Deletes one namespaced object named by `metadata`; 404 is success.
    pub(crate) async fn delete_object<K>(
        &self,
        metadata: &ObjectMeta,
        kind: &'static str,
    ) -> Result<(), KubeFailure>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let (Some(name), Some(namespace)) = (metadata.name.as_deref(), metadata.namespace.as_deref()) else {
            return Ok(());
        };
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                tracing::debug!(namespace, kind, name, "deleted");
                Ok(())
            }
            Err(error) if is_not_found(&error) => Ok(()),
            Err(error) => Err(KubeFailure::from_kube("delete", kind, Some(namespace), &error)),
        }
    }
}

/// `expirationSeconds` for a token of a grant ending at `expires_at`: the remaining
/// seconds, rounded up, at least [`MIN_TOKEN_SECONDS`].
pub(crate) fn token_seconds(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let remaining = expires_at - now;
    let mut seconds = remaining.num_seconds();
    if remaining > TimeDelta::seconds(seconds) {
        seconds += 1;
    }
    seconds.max(MIN_TOKEN_SECONDS)
}

fn validate(spec: &GrantSpec) -> Result<(), GrantError> {
    if !is_dns_label(&spec.request_id) || spec.request_id.len() > 57 {
        return Err(GrantError::Invalid(format!(
            "request id {:?} is not a valid Kubernetes name part (a-z, 0-9, '-', at most 57 characters)",
            spec.request_id
        )));
    }
    if spec.namespaces.is_empty() {
        return Err(GrantError::Invalid("the grant names no namespace".to_owned()));
    }
    if let Some(bad) = spec.namespaces.iter().find(|namespace| !is_dns_label(namespace)) {
        return Err(GrantError::Invalid(format!(
            "{bad:?} is not a valid namespace name"
        )));
    }
    // Defence in depth (the agent's own RBAC allows `bind` on janus-* roles only): whatever
    // central asks, the agent binds no ClusterRole outside the `janus-` profile roles.
    let role_ok = spec
        .cluster_role
        .strip_prefix("janus-")
        .is_some_and(|profile| !profile.is_empty());
    if !role_ok {
        return Err(GrantError::Invalid(format!(
            "profile {:?} asks for ClusterRole {:?}; the agent only binds profile roles named janus-*",
            spec.profile, spec.cluster_role
        )));
    }
    Ok(())
}

/// Creates `desired` (named after the grant) in `namespace`: `None` when it was created; when
/// an object of that name exists, that object, once [`ensure_owned`] accepts it.
async fn create_or_get<K>(
    api: &Api<K>,
    desired: &K,
    spec: &GrantSpec,
    kind: &'static str,
    namespace: &str,
) -> Result<Option<K>, KubeFailure>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), desired).await {
        Ok(_) => return Ok(None),
        Err(error) if is_already_exists(&error) => {}
        Err(error) => return Err(KubeFailure::from_kube("create", kind, Some(namespace), &error)),
    }
    let existing = api
        .get(&object_name(&spec.request_id))
        .await
        .map_err(|error| KubeFailure::from_kube("get", kind, Some(namespace), &error))?;
    ensure_owned(existing.meta(), &spec.request_id, kind, namespace)?;
    Ok(Some(existing))
}

/// An existing object with a grant's name must carry that grant's labels; Janus never
/// adopts (or later deletes) an object it did not create.
fn ensure_owned(
    metadata: &ObjectMeta,
    request_id: &str,
    kind: &'static str,
    namespace: &str,
) -> Result<(), KubeFailure> {
    if belongs_to(metadata, request_id) {
        return Ok(());
    }
    Err(KubeFailure::new(
        "create",
        kind,
        Some(namespace),
        format!(
            "{kind} {} already exists and is not managed by Janus for request {request_id}; \
             remove or rename it and retry",
            object_name(request_id)
        ),
    ))
}

/// True when the `expires-at` annotation already says the grant's end (labels were
/// checked by [`ensure_owned`]).
fn metadata_matches(metadata: &ObjectMeta, spec: &GrantSpec) -> bool {
    metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(ANNOTATION_EXPIRES_AT))
        .is_some_and(|raw| *raw == format_expires_at(spec.expires_at))
}

fn metadata_patch(spec: &GrantSpec) -> serde_json::Value {
    json!({
        "labels": grant_labels(&spec.request_id),
        "annotations": { ANNOTATION_EXPIRES_AT: format_expires_at(spec.expires_at) },
    })
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn token_seconds_cover_the_rest_of_the_grant_and_at_least_600() {
        let now = DateTime::from_timestamp(1_893_456_000, 0).unwrap();
        assert_eq!(token_seconds(now + TimeDelta::seconds(7200), now), 7200);
        assert_eq!(token_seconds(now + TimeDelta::milliseconds(7_200_500), now), 7201);
        assert_eq!(token_seconds(now + TimeDelta::seconds(30), now), 600);
        assert_eq!(token_seconds(now - TimeDelta::seconds(30), now), 600);
    }
}
