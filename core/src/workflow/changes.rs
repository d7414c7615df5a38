//! Changes that are not request transitions: enrolling an agent, linking a Discord account,
//! editing quick commands, keeping a terminal recording. Each is one store transaction that
//! commits the change with its audit event; the rules (join tokens, quick-command text) are
//! core's pure functions.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Workflow, WorkflowError, join_token_hash};
use crate::domain::{AuditAction, NewEvent, Principal};
use crate::enrollment::EnrollmentRefusal;
use crate::quick_commands::{self, QuickCommand, QuickCommandProblem};
use crate::store::Recording;

impl Workflow {
    /// Spends `join_token` to enroll `cluster`'s agent with `public_key` (audited as
    /// `agent.enrolled`), or says why the token was refused
    /// ([`crate::enrollment::check_join_token`]); a refusal writes nothing.
    pub async fn enroll(
        &self,
        join_token: &str,
        cluster: &str,
        public_key: &str,
        agent_version: &str,
    ) -> Result<Result<(), EnrollmentRefusal>, WorkflowError> {
        Ok(self
            .store
            .enroll(
                &join_token_hash(join_token),
                cluster,
                public_key,
                agent_version,
                self.clock.now(),
            )
            .await?)
    }

    /// Records that `cluster`'s agent made a signed request now.
    pub async fn agent_seen(&self, cluster: &str) -> Result<(), WorkflowError> {
        Ok(self.store.agent_seen(cluster, self.clock.now()).await?)
    }

    /// Binds a Discord user to `principal` with a `/janus link` nonce, which is spent (only its
    /// hash is kept, until `expires_at`). False, and nothing written, when the nonce was spent
    /// before. Audited as `discord.linked`.
    pub async fn link_discord(
        &self,
        nonce: &str,
        discord_user_id: &str,
        principal: &Principal,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, WorkflowError> {
        let event = NewEvent {
            action: AuditAction::DiscordLinked,
            actor: principal.to_string(),
            request_id: None,
            cluster: None,
            details: json!({ "discord_user_id": discord_user_id }),
        };
        let nonce_hash = crate::digest::sha256_hex(nonce.as_bytes());
        Ok(self
            .store
            .link_discord(
                &nonce_hash,
                discord_user_id,
                principal.as_str(),
                expires_at,
                &event,
                self.clock.now(),
            )
            .await?)
    }

    /// Removes `principal`'s link of `discord_user_id`; false when there was none. Audited as
    /// `discord.unlinked`.
    pub async fn unlink_discord(
        &self,
        discord_user_id: &str,
        principal: &Principal,
    ) -> Result<bool, WorkflowError> {
        let event = NewEvent {
            action: AuditAction::DiscordUnlinked,
            actor: principal.to_string(),
            request_id: None,
            cluster: None,
            details: json!({ "discord_user_id": discord_user_id }),
        };
        Ok(self
            .store
            .unlink_discord(discord_user_id, principal.as_str(), &event, self.clock.now())
            .await?)
    }

    /// Adds a quick command to `cluster` (whether the cluster is configured is the caller's
    /// check), after [`quick_commands::check`]; refused when the cluster already has one of
    /// that name. Audited as `quick_command.created`.
    pub async fn create_quick_command(
        &self,
        cluster: &str,
        name: &str,
        command: &str,
        actor: &Principal,
    ) -> Result<Result<QuickCommand, QuickCommandProblem>, WorkflowError> {
        let (name, command) = match quick_commands::check(name, command) {
            Ok(checked) => checked,
            Err(problem) => return Ok(Err(problem)),
        };
        let now = self.clock.now();
        let new = QuickCommand {
            id: quick_commands::new_id(&mut rand::thread_rng()),
            cluster: cluster.to_owned(),
            name,
            command,
            created_by: actor.to_string(),
            created_at: now,
            updated_by: actor.to_string(),
            updated_at: now,
        };
        Ok(self.store.create_quick_command(&new).await?.map(|()| new))
    }

    /// Renames or changes the quick command `id`, after [`quick_commands::check`]; returns it as
    /// it is now. Audited as `quick_command.updated` with both versions.
    pub async fn update_quick_command(
        &self,
        id: &str,
        name: &str,
        command: &str,
        actor: &Principal,
    ) -> Result<Result<QuickCommand, QuickCommandProblem>, WorkflowError> {
        let (name, command) = match quick_commands::check(name, command) {
            Ok(checked) => checked,
            Err(problem) => return Ok(Err(problem)),
        };
        Ok(self
            .store
            .update_quick_command(id, &name, &command, actor.as_str(), self.clock.now())
            .await?)
    }

    /// Deletes the quick command `id`; returns what was deleted. Audited as
    /// `quick_command.deleted`.
    pub async fn delete_quick_command(
        &self,
        id: &str,
        actor: &Principal,
    ) -> Result<Result<QuickCommand, QuickCommandProblem>, WorkflowError> {
        Ok(self
            .store
            .delete_quick_command(id, actor.as_str(), self.clock.now())
            .await?)
    }

    /// Keeps a finished terminal session's recording (asciicast v2 text).
    pub async fn save_recording(&self, recording: &Recording, cast: &str) -> Result<(), WorkflowError> {
        Ok(self.store.save_recording(recording, cast).await?)
    }
}
