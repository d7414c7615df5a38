//! The SQL of quick commands (`quick_commands`, migration 0007). Stamped once per backend by
//! [`quick_commands_impl!`] as the [`QuickCommandStore`] role.
//! Every change appends its audit event (`quick_command.created|updated|deleted`, with the name
//! and command before and after) in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::quick_commands::{QuickCommand, QuickCommandProblem};

/// Quick commands. Every change appends its audit event in the same transaction.
#[async_trait]
pub trait QuickCommandStore: Send + Sync {
    /// The quick commands of `cluster` (all clusters with `None`), by cluster and name.
    async fn quick_commands(&self, cluster: Option<&str>) -> Result<Vec<QuickCommand>, StoreError>;

    async fn quick_command(&self, id: &str) -> Result<Option<QuickCommand>, StoreError>;

    /// Stores a new command (audited as `quick_command.created` by its `created_by`), unless its
    /// cluster already has one of that name.
    async fn create_quick_command(
        &self,
        command: &QuickCommand,
    ) -> Result<Result<(), QuickCommandProblem>, StoreError>;

    /// Changes the name and command of `id` (audited with both versions); returns it as it is now.
    async fn update_quick_command(
        &self,
        id: &str,
        name: &str,
        command: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<QuickCommand, QuickCommandProblem>, StoreError>;

    /// Deletes `id` (audited with what it was); returns what was deleted.
    async fn delete_quick_command(
        &self,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<QuickCommand, QuickCommandProblem>, StoreError>;
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct QuickCommandRow {
    pub id: String,
    pub cluster: String,
    pub name: String,
    pub command: String,
    pub created_by: String,
    pub created_at: crate::time::Timestamp,
    pub updated_by: String,
    pub updated_at: crate::time::Timestamp,
}

impl From<QuickCommandRow> for QuickCommand {
    fn from(row: QuickCommandRow) -> QuickCommand {
        QuickCommand {
            id: row.id,
            cluster: row.cluster,
            name: row.name,
            command: row.command,
            created_by: row.created_by,
            created_at: row.created_at.0,
            updated_by: row.updated_by,
            updated_at: row.updated_at.0,
        }
    }
}

/// The audit event of a change to `command` by `actor`.
pub(super) fn event(
    action: crate::domain::AuditAction,
    actor: &str,
    command: &QuickCommand,
    before: Option<&QuickCommand>,
) -> crate::domain::NewEvent {
    let mut details = serde_json::json!({
        "id": command.id,
        "name": command.name,
        "command": command.command,
    });
    if let Some(before) = before {
        details["before"] = serde_json::json!({ "name": before.name, "command": before.command });
    }
    crate::domain::NewEvent {
        action,
        actor: actor.to_owned(),
        request_id: None,
        cluster: Some(command.cluster.clone()),
        details,
    }
}

/// `SELECT` every column `WHERE …`, in listing order, then an optional suffix (`FOR UPDATE`).
macro_rules! select_quick_commands {
    ($condition:literal $(, $suffix:literal)?) => {
        concat!(
            "SELECT id, cluster, name, command, created_by, created_at, updated_by, updated_at \
             FROM quick_commands ",
            $condition,
            " ORDER BY cluster, name, id"
            $(, $suffix)?
        )
    };
}

pub(super) use select_quick_commands;

macro_rules! quick_commands_impl {
    ($store:ty, for_update = $for_update:literal) => {
        #[async_trait::async_trait]
        impl crate::store::QuickCommandStore for $store {
            async fn quick_commands(
                &self,
                cluster: Option<&str>,
            ) -> Result<Vec<crate::quick_commands::QuickCommand>, crate::store::StoreError> {
                use crate::store::quick_commands::{QuickCommandRow, select_quick_commands};
                let rows: Vec<QuickCommandRow> = match cluster {
                    Some(cluster) => {
                        sqlx::query_as(select_quick_commands!("WHERE cluster = $1"))
                            .bind(cluster)
                            .fetch_all(&self.pool)
                            .await?
                    }
                    None => {
                        sqlx::query_as(select_quick_commands!(""))
                            .fetch_all(&self.pool)
                            .await?
                    }
                };
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn quick_command(
                &self,
                id: &str,
            ) -> Result<Option<crate::quick_commands::QuickCommand>, crate::store::StoreError> {
                use crate::store::quick_commands::{QuickCommandRow, select_quick_commands};
                let row: Option<QuickCommandRow> = sqlx::query_as(select_quick_commands!("WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            /// Inserts `command` unless its cluster already has one of that name.
            async fn create_quick_command(
                &self,
                command: &crate::quick_commands::QuickCommand,
            ) -> Result<Result<(), crate::quick_commands::QuickCommandProblem>, crate::store::StoreError>
            {
                let (_writer, mut tx) = self.begin().await?;
                let taken: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM quick_commands WHERE cluster = $1 AND name = $2")
                        .bind(&command.cluster)
                        .bind(&command.name)
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    tx.rollback().await?;
                    return Ok(Err(
                        crate::quick_commands::QuickCommandProblem::DuplicateName {
                            cluster: command.cluster.clone(),
                            name: command.name.clone(),
                        },
                    ));
                }
                sqlx::query(
                    "INSERT INTO quick_commands (id, cluster, name, command, created_by, created_at, \
                     updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&command.id)
                .bind(&command.cluster)
                .bind(&command.name)
                .bind(&command.command)
                .bind(&command.created_by)
                .bind(crate::time::Timestamp::from(command.created_at))
                .bind(&command.updated_by)
                .bind(crate::time::Timestamp::from(command.updated_at))
                .execute(&mut *tx)
                .await?;
                let event = crate::store::quick_commands::event(
                    crate::domain::AuditAction::QuickCommandCreated,
                    &command.created_by,
                    command,
                    None,
                );
                Self::append_events(&mut tx, std::slice::from_ref(&event), command.created_at).await?;
                tx.commit().await?;
                Ok(Ok(()))
            }

            /// Renames or changes the command `id`; returns it as it is now.
            async fn update_quick_command(
                &self,
                id: &str,
                name: &str,
                command: &str,
                actor: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<
                Result<crate::quick_commands::QuickCommand, crate::quick_commands::QuickCommandProblem>,
                crate::store::StoreError,
            > {
                use crate::store::quick_commands::{QuickCommandRow, select_quick_commands};
                let (_writer, mut tx) = self.begin().await?;
                let before: Option<QuickCommandRow> =
                    sqlx::query_as(select_quick_commands!("WHERE id = $1", $for_update))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(before) = before.map(crate::quick_commands::QuickCommand::from) else {
                    tx.rollback().await?;
                    return Ok(Err(crate::quick_commands::QuickCommandProblem::NotFound));
                };
                let taken: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM quick_commands WHERE cluster = $1 AND name = $2 AND id <> $3",
                )
                .bind(&before.cluster)
                .bind(name)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                if taken.is_some() {
                    tx.rollback().await?;
                    return Ok(Err(
                        crate::quick_commands::QuickCommandProblem::DuplicateName {
                            cluster: before.cluster,
                            name: name.to_owned(),
                        },
                    ));
                }
                let now = crate::time::truncate_to_micros(now);
                sqlx::query(
                    "UPDATE quick_commands SET name = $2, command = $3, updated_by = $4, updated_at = $5 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(name)
                .bind(command)
                .bind(actor)
                .bind(crate::time::Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                let after = crate::quick_commands::QuickCommand {
                    name: name.to_owned(),
                    command: command.to_owned(),
                    updated_by: actor.to_owned(),
                    updated_at: now,
                    ..before.clone()
                };
                let event = crate::store::quick_commands::event(
                    crate::domain::AuditAction::QuickCommandUpdated,
                    actor,
                    &after,
                    Some(&before),
                );
                Self::append_events(&mut tx, std::slice::from_ref(&event), now).await?;
                tx.commit().await?;
                Ok(Ok(after))
            }

            /// Deletes the command `id`; returns what was deleted.
            async fn delete_quick_command(
                &self,
                id: &str,
                actor: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<
                Result<crate::quick_commands::QuickCommand, crate::quick_commands::QuickCommandProblem>,
                crate::store::StoreError,
            > {
                use crate::store::quick_commands::{QuickCommandRow, select_quick_commands};
                let (_writer, mut tx) = self.begin().await?;
                let before: Option<QuickCommandRow> =
                    sqlx::query_as(select_quick_commands!("WHERE id = $1", $for_update))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(before) = before.map(crate::quick_commands::QuickCommand::from) else {
                    tx.rollback().await?;
                    return Ok(Err(crate::quick_commands::QuickCommandProblem::NotFound));
                };
                sqlx::query("DELETE FROM quick_commands WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let event = crate::store::quick_commands::event(
                    crate::domain::AuditAction::QuickCommandDeleted,
                    actor,
                    &before,
                    None,
                );
                Self::append_events(&mut tx, std::slice::from_ref(&event), now).await?;
                tx.commit().await?;
                Ok(Ok(before))
            }
        }
    };
}

pub(super) use quick_commands_impl;
