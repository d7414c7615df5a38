//! The SQL both backends share for requests, the audit chain and the work queue, stamped out
//! once per backend by [`store_impl!`]: private helpers (the transition writer, the chain
//! append) and the implementations of [`RequestStore`](crate::store::RequestStore),
//! [`AuditStore`](crate::store::AuditStore) and [`WorkStore`](crate::store::WorkStore). What
//! happens to a work row (handed out or skipped, a report refused or applied, retried or done)
//! is decided by the pure rules of [`crate::queue`]; the SQL here locks, reads and writes.
//!
//! The macro takes the backend's store type and database type, plus the literal that
//! turns a plain `SELECT` into a row-locking one (`" FOR UPDATE"` on PostgreSQL, empty on
//! SQLite, where a write transaction already holds the database lock) and the one that
//! skips rows locked by a concurrent claimer (`" FOR UPDATE SKIP LOCKED"`). Everything
//! else that differs lives in the backend's own file: `begin` (SQLite: one writer at a time
//! in-process, then `BEGIN IMMEDIATE`; it returns a guard to hold for the transaction),
//! `lock_requester` (a PostgreSQL advisory transaction lock) and `notify_work`.

macro_rules! store_impl {
    ($store:ty, $db:ty, for_update = $for_update:literal, skip_locked = $skip_locked:literal) => {
        impl $store {
            async fn load_locked(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: &str,
            ) -> Result<Option<AccessRequest>, StoreError> {
                let row: Option<RequestRow> = sqlx::query_as(concat!(
                    "SELECT id, requester, origin, cluster, namespaces, profile, requested_ttl_seconds, \
                     ttl_seconds, reason, state, credentials, approvals, deny_reason, extension, extensions, \
                     created_at, decided_at, activated_at, expires_at, ended_at, end_reason, ended_by, version \
                     FROM requests WHERE id = $1",
                    $for_update
                ))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
                row.map(RequestRow::into_domain).transpose()
            }

            /// Writes a transition: the request (inserted, or updated guarded by its
            /// previous version), its audit events, and the work its effects imply.
            async fn write_transition(
                tx: &mut sqlx::Transaction<'static, $db>,
                transition: &Transition,
                previous_version: Option<i64>,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let request = &transition.request;
                let ttl = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
                let extension = request.extension.as_ref().map(to_json).transpose()?;
                let query = match previous_version {
                    None => sqlx::query(
                        "INSERT INTO requests (id, requester, origin, cluster, namespaces, profile, \
                         requested_ttl_seconds, ttl_seconds, reason, state, credentials, approvals, deny_reason, \
                         extension, extensions, created_at, decided_at, activated_at, expires_at, ended_at, \
                         end_reason, version, ended_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $24)",
                    ),
                    Some(_) => sqlx::query(
                        "UPDATE requests SET requester = $2, origin = $3, cluster = $4, namespaces = $5, \
                         profile = $6, requested_ttl_seconds = $7, ttl_seconds = $8, reason = $9, state = $10, \
                         credentials = $11, approvals = $12, deny_reason = $13, extension = $14, \
                         extensions = $15, created_at = $16, decided_at = $17, activated_at = $18, \
                         expires_at = $19, ended_at = $20, end_reason = $21, version = $22, ended_by = $24 \
                         WHERE id = $1 AND version = $23",
                    ),
                };
                let result = query
                    .bind(request.id.as_str())
                    .bind(request.requester.as_str())
                    .bind(to_json(&request.origin)?)
                    .bind(&request.cluster)
                    .bind(to_json(&request.namespaces)?)
                    .bind(&request.profile)
                    .bind(ttl(request.requested_ttl_seconds))
                    .bind(ttl(request.ttl_seconds))
                    .bind(&request.reason)
                    .bind(request.state.as_str())
                    .bind(request.credentials.as_str())
                    .bind(to_json(&request.approvals)?)
                    .bind(&request.deny_reason)
                    .bind(extension)
                    .bind(i64::from(request.extensions))
                    .bind(Timestamp::from(request.created_at))
                    .bind(request.decided_at.map(Timestamp::from))
                    .bind(request.activated_at.map(Timestamp::from))
                    .bind(request.expires_at.map(Timestamp::from))
                    .bind(request.ended_at.map(Timestamp::from))
                    .bind(&request.end_reason)
                    .bind(request.version)
                    .bind(previous_version.unwrap_or_default())
                    .bind(&request.ended_by)
                    .execute(&mut **tx)
                    .await?;
                if result.rows_affected() != 1 {
                    return Err(StoreError::Conflict);
                }
                Self::append_events(tx, &transition.events, now).await?;
                Self::insert_notices(tx, request.id.as_str(), &transition.notices, now).await?;
                for effect in &transition.effects {
                    let kind = match effect {
                        Effect::QueueGrant => WorkKind::Grant,
                        Effect::QueueCleanup => WorkKind::Cleanup,
                        Effect::CloseTerminals => continue,
                    };
                    Self::enqueue(tx, &request.cluster, kind, request.id.as_str(), now).await?;
                }
                Ok(())
            }

            async fn enqueue(
                tx: &mut sqlx::Transaction<'static, $db>,
                cluster: &str,
                kind: WorkKind,
                request_id: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO work (cluster, kind, request_id, status, attempt, available_at, created_at) \
                     VALUES ($1, $2, $3, 'queued', 0, $4, $4)",
                )
                .bind(cluster)
                .bind(kind.as_str())
                .bind(request_id)
                .bind(Timestamp::from(now))
                .execute(&mut **tx)
                .await?;
                Self::notify_work(tx, cluster).await
            }

            /// Appends events to the chain. The head row is read under lock, so appends
            /// from concurrent transactions are strictly ordered.
            async fn append_events(
                tx: &mut sqlx::Transaction<'static, $db>,
                events: &[NewEvent],
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                if events.is_empty() {
                    return Ok(());
                }
                let (mut seq, mut hash): (i64, String) =
                    sqlx::query_as(concat!("SELECT seq, hash FROM audit_head WHERE id = 1", $for_update))
                        .fetch_one(&mut **tx)
                        .await?;
                let at = crate::time::truncate_to_micros(now);
                for event in events {
                    seq += 1;
                    let request_id = event.request_id.as_ref().map(|id| id.as_str());
                    let fields = EventFields {
                        seq,
                        at,
                        actor: &event.actor,
                        action: event.action.as_str(),
                        request_id,
                        cluster: event.cluster.as_deref(),
                        details: &event.details,
                    };
                    let next_hash = chain_hash(&hash, &fields);
                    sqlx::query(
                        "INSERT INTO audit_events (seq, at, actor, action, request_id, cluster, details, \
                         prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(seq)
                    .bind(Timestamp::from(at))
                    .bind(&event.actor)
                    .bind(event.action.as_str())
                    .bind(request_id)
                    .bind(event.cluster.as_deref())
                    .bind(canonical_json(&event.details))
                    .bind(&hash)
                    .bind(&next_hash)
                    .execute(&mut **tx)
                    .await?;
                    hash = next_hash;
                }
                sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                    .bind(seq)
                    .bind(&hash)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn activity(
                tx: &mut sqlx::Transaction<'static, $db>,
                requester: &str,
                now: DateTime<Utc>,
            ) -> Result<UserActivity, StoreError> {
                let hour_ago = now - chrono::TimeDelta::hours(1);
                let (submitted,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM requests WHERE requester = $1 AND created_at > $2")
                        .bind(requester)
                        .bind(Timestamp::from(hour_ago))
                        .fetch_one(&mut **tx)
                        .await?;
                let live: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT id, cluster, namespaces FROM requests \
                     WHERE requester = $1 AND state IN ('pending', 'approved', 'active')",
                )
                .bind(requester)
                .fetch_all(&mut **tx)
                .await?;
                let mut activity = UserActivity {
                    submitted_last_hour: u32::try_from(submitted).unwrap_or(u32::MAX),
                    live_requests: u32::try_from(live.len()).unwrap_or(u32::MAX),
                    live_namespaces: Vec::new(),
                };
                for (id, cluster, namespaces) in live {
                    let namespaces: Vec<String> = serde_json::from_str(&namespaces)
                        .map_err(|_| StoreError::Corrupt(format!("request {id}: unreadable namespaces")))?;
                    let id = RequestId::parse(&id)
                        .ok_or_else(|| StoreError::Corrupt(format!("request {id}: unreadable id")))?;
                    for namespace in namespaces {
                        activity.live_namespaces.push((cluster.clone(), namespace, id.clone()));
                    }
                }
                Ok(activity)
            }

            async fn known_namespaces(
                executor: impl sqlx::Executor<'_, Database = $db>,
                cluster: &str,
            ) -> Result<Option<Vec<String>>, StoreError> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT namespaces FROM cluster_namespaces WHERE cluster = $1")
                        .bind(cluster)
                        .fetch_optional(executor)
                        .await?;
                row.map(|(text,)| {
                    serde_json::from_str(&text)
                        .map_err(|_| StoreError::Corrupt(format!("cluster {cluster}: unreadable namespaces")))
                })
                .transpose()
            }
        }

        #[async_trait::async_trait]
        impl crate::store::RequestStore for $store {
            async fn insert_request(
                &self,
                requester: &str,
                cluster: &str,
                now: DateTime<Utc>,
                build: crate::store::BuildRequest<'_>,
            ) -> Result<Transition, StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                Self::lock_requester(&mut tx, requester).await?;
                let activity = Self::activity(&mut tx, requester, now).await?;
                let known = Self::known_namespaces(&mut *tx, cluster).await?;
                let transition = build(&activity, known.as_deref())?;
                Self::write_transition(&mut tx, &transition, None, now).await?;
                tx.commit().await?;
                Ok(transition)
            }

            async fn update_request(
                &self,
                id: &RequestId,
                expected: Option<RequestState>,
                now: DateTime<Utc>,
                apply: crate::store::ApplyToRequest<'_>,
            ) -> Result<Transition, StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let current = Self::load_locked(&mut tx, id.as_str())
                    .await?
                    .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
                if let Some(expected) = expected
                    && current.state != expected
                {
                    return Err(DomainError::StaleState { expected, actual: current.state }.into());
                }
                let transition = apply(&current)?;
                Self::write_transition(&mut tx, &transition, Some(current.version), now).await?;
                tx.commit().await?;
                Ok(transition)
            }

            /// Applies `apply` to each request of `ids` still in `expected`, all in one
            /// transaction (the scheduler's batches). Requests that moved on, or that `apply`
            /// refuses, are skipped; each accepted one is written exactly as `update_request`
            /// would write it.
            async fn update_requests(
                &self,
                ids: &[RequestId],
                expected: RequestState,
                now: DateTime<Utc>,
                apply: crate::store::ApplyToEach<'_>,
            ) -> Result<Vec<Transition>, StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let mut done = Vec::with_capacity(ids.len());
                for id in ids {
                    let Some(current) = Self::load_locked(&mut tx, id.as_str()).await? else { continue };
                    if current.state != expected {
                        continue;
                    }
                    let Ok(transition) = apply(&current) else { continue };
                    Self::write_transition(&mut tx, &transition, Some(current.version), now).await?;
                    done.push(transition);
                }
                tx.commit().await?;
                Ok(done)
            }

            async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
                let row: Option<RequestRow> = sqlx::query_as(
                    "SELECT id, requester, origin, cluster, namespaces, profile, requested_ttl_seconds, \
                     ttl_seconds, reason, state, credentials, approvals, deny_reason, extension, extensions, \
                     created_at, decided_at, activated_at, expires_at, ended_at, end_reason, ended_by, version \
                     FROM requests WHERE id = $1",
                )
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(RequestRow::into_domain).transpose()
            }

            async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<AccessRequest>, StoreError> {
                let rows: Vec<RequestRow> = sqlx::query_as(
                    "SELECT id, requester, origin, cluster, namespaces, profile, requested_ttl_seconds, \
                     ttl_seconds, reason, state, credentials, approvals, deny_reason, extension, extensions, \
                     created_at, decided_at, activated_at, expires_at, ended_at, end_reason, ended_by, version \
                     FROM requests WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR cluster = $2) \
                     AND ($3 IS NULL OR requester = $3) ORDER BY created_at DESC, id LIMIT $4",
                )
                .bind(filter.state.map(RequestState::as_str))
                .bind(filter.cluster.as_deref())
                .bind(filter.requester.as_deref())
                .bind(filter.limit.unwrap_or(500))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(RequestRow::into_domain).collect()
            }

            async fn count_by_state(&self) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as("SELECT state, COUNT(*) FROM requests GROUP BY state ORDER BY state")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn due(
                &self,
                now: DateTime<Utc>,
                pending_before: Option<DateTime<Utc>>,
                approved_before: DateTime<Utc>,
                limit: i64,
            ) -> Result<DueWork, StoreError> {
                let ids = |rows: Vec<(String,)>| -> Result<Vec<RequestId>, StoreError> {
                    rows.into_iter()
                        .map(|(id,)| RequestId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("id {id}"))))
                        .collect()
                };
                let to_expire = sqlx::query_as(
                    "SELECT id FROM requests WHERE state = 'active' AND expires_at <= $1 \
                     ORDER BY expires_at LIMIT $2",
                )
                .bind(Timestamp::from(now))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let to_auto_deny = match pending_before {
                    None => Vec::new(),
                    Some(before) => {
                        sqlx::query_as(
                            "SELECT id FROM requests WHERE state = 'pending' AND created_at <= $1 \
                             ORDER BY created_at LIMIT $2",
                        )
                        .bind(Timestamp::from(before))
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                let to_time_out = sqlx::query_as(
                    "SELECT id FROM requests WHERE state = 'approved' AND decided_at <= $1 \
                     ORDER BY decided_at LIMIT $2",
                )
                .bind(Timestamp::from(approved_before))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(DueWork {
                    to_expire: ids(to_expire)?,
                    to_auto_deny: ids(to_auto_deny)?,
                    to_time_out: ids(to_time_out)?,
                })
            }

            async fn purge_finished(&self, ended_before: DateTime<Utc>) -> Result<u64, StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(
                    "DELETE FROM work WHERE request_id IN (SELECT id FROM requests \
                     WHERE state NOT IN ('pending', 'approved', 'active') \
                     AND credentials IN ('none', 'cleaned') AND ended_at <= $1)",
                )
                .bind(Timestamp::from(ended_before))
                .execute(&mut *tx)
                .await?;
                for statement in [
                    "DELETE FROM outbox WHERE request_id IN (SELECT id FROM requests \
                     WHERE state NOT IN ('pending', 'approved', 'active') \
                     AND credentials IN ('none', 'cleaned') AND ended_at <= $1)",
                    "DELETE FROM chat_messages WHERE request_id IN (SELECT id FROM requests \
                     WHERE state NOT IN ('pending', 'approved', 'active') \
                     AND credentials IN ('none', 'cleaned') AND ended_at <= $1)",
                    "DELETE FROM terminal_recordings WHERE request_id IN (SELECT id FROM requests \
                     WHERE state NOT IN ('pending', 'approved', 'active') \
                     AND credentials IN ('none', 'cleaned') AND ended_at <= $1)",
                ] {
                    sqlx::query(statement)
                        .bind(Timestamp::from(ended_before))
                        .execute(&mut *tx)
                        .await?;
                }
                let deleted = sqlx::query(
                    "DELETE FROM requests WHERE state NOT IN ('pending', 'approved', 'active') \
                     AND credentials IN ('none', 'cleaned') AND ended_at <= $1",
                )
                .bind(Timestamp::from(ended_before))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(deleted.rows_affected())
            }

            async fn set_namespaces(
                &self,
                cluster: &str,
                namespaces: &[String],
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO cluster_namespaces (cluster, namespaces, reported_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (cluster) DO UPDATE SET namespaces = excluded.namespaces, \
                     reported_at = excluded.reported_at",
                )
                .bind(cluster)
                .bind(to_json(&namespaces)?)
                .bind(Timestamp::from(now))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn namespaces(&self, cluster: &str) -> Result<Option<Vec<String>>, StoreError> {
                Self::known_namespaces(&self.pool, cluster).await
            }
        }

        #[async_trait::async_trait]
        impl crate::store::AuditStore for $store {
            async fn append_audit(&self, events: &[NewEvent], now: DateTime<Utc>) -> Result<(), StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                Self::append_events(&mut tx, events, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit_head(&self) -> Result<(i64, String), StoreError> {
                Ok(sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?)
            }

            async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT seq, at, actor, action, request_id, cluster, details, prev_hash, hash \
                     FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(AuditRow::into_record).collect())
            }

            async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, StoreError> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT seq, at, actor, action, request_id, cluster, details, prev_hash, hash \
                     FROM audit_events WHERE request_id = $1 ORDER BY seq",
                )
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(AuditRow::into_record).collect())
            }
        }

        #[async_trait::async_trait]
        impl crate::store::WorkStore for $store {
            async fn claim_work(
                &self,
                cluster: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
            ) -> Result<Option<WorkItem>, StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                loop {
                    let row: Option<WorkRow> = sqlx::query_as(concat!(
                        "SELECT id, cluster, kind, request_id, status, attempt, lease_token FROM work w \
                         WHERE cluster = $1 AND ((status = 'queued' AND available_at <= $2) \
                         OR (status = 'leased' AND lease_until <= $2)) \
                         AND NOT EXISTS (SELECT 1 FROM work earlier WHERE earlier.request_id = w.request_id \
                         AND earlier.id < w.id AND earlier.status <> 'done') \
                         ORDER BY id LIMIT 1",
                        $skip_locked
                    ))
                    .bind(cluster)
                    .bind(Timestamp::from(now))
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        tx.commit().await?;
                        return Ok(None);
                    };
                    let kind = WorkKind::parse(&row.kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("work {}: unknown kind", row.id)))?;
                    let request = Self::load_locked(&mut tx, &row.request_id).await?;
                    let decision = crate::queue::claim_decision(kind, request.as_ref().map(|request| request.state));
                    let (crate::queue::ClaimDecision::Lease, Some(mut request)) = (decision, request) else {
                        sqlx::query(
                            "UPDATE work SET status = 'done', completed_at = $2, last_error = 'skipped: request \
                             no longer needs it' WHERE id = $1",
                        )
                        .bind(row.id)
                        .bind(Timestamp::from(now))
                        .execute(&mut *tx)
                        .await?;
                        continue;
                    };
                    let lease_token = new_lease_token();
                    sqlx::query(
                        "UPDATE work SET status = 'leased', lease_until = $2, lease_token = $3, \
                         attempt = attempt + 1 WHERE id = $1",
                    )
                    .bind(row.id)
                    .bind(Timestamp::from(lease_until))
                    .bind(&lease_token)
                    .execute(&mut *tx)
                    .await?;
                    // The grant's end is fixed once, when its first grant is handed out; the
                    // agent's credentials, the report and the scheduler all use this value.
                    if let Some(expires_at) = crate::domain::fix_grant_end(&request, now) {
                        sqlx::query("UPDATE requests SET expires_at = $2 WHERE id = $1 AND expires_at IS NULL")
                            .bind(request.id.as_str())
                            .bind(Timestamp::from(expires_at))
                            .execute(&mut *tx)
                            .await?;
                        request.expires_at = Some(crate::time::truncate_to_micros(expires_at));
                    }
                    tx.commit().await?;
                    return Ok(Some(WorkItem {
                        id: row.id,
                        cluster: row.cluster,
                        kind,
                        request_id: request.id.clone(),
                        request,
                        attempt: row.attempt + 1,
                        lease_token,
                        lease_until: crate::time::truncate_to_micros(lease_until),
                    }));
                }
            }

            async fn complete_work(
                &self,
                work_id: i64,
                cluster: &str,
                lease_token: &str,
                outcome: &WorkOutcome,
                now: DateTime<Utc>,
                apply: crate::store::ApplyResult<'_>,
            ) -> Result<(Completion, Option<Transition>), StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let row: Option<WorkRow> = sqlx::query_as(concat!(
                    "SELECT id, cluster, kind, request_id, status, attempt, lease_token FROM work WHERE id = $1",
                    $for_update
                ))
                .bind(work_id)
                .fetch_optional(&mut *tx)
                .await?;
                let row = row.ok_or_else(|| StoreError::NotFound(format!("work {work_id}")))?;
                let status = WorkStatus::parse(&row.status)
                    .ok_or_else(|| StoreError::Corrupt(format!("work {}: unknown status", row.id)))?;
                match check_completion(&row.cluster, status, row.lease_token.as_deref(), cluster, lease_token) {
                    Err(CompletionRefusal::WrongAgent) => return Err(DomainError::WrongAgent.into()),
                    Err(CompletionRefusal::LeaseLost) => return Err(StoreError::LeaseLost),
                    Ok(CompletionCheck::AlreadyDone) => {
                        tx.commit().await?;
                        return Ok((Completion::AlreadyDone, None));
                    }
                    Ok(CompletionCheck::Apply) => {}
                }
                let kind = WorkKind::parse(&row.kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("work {}: unknown kind", row.id)))?;
                let transition = match Self::load_locked(&mut tx, &row.request_id).await? {
                    None => None,
                    Some(request) => match settle_request(apply(&request, kind))? {
                        Some(transition) => {
                            Self::write_transition(&mut tx, &transition, Some(request.version), now).await?;
                            Some(transition)
                        }
                        None => None,
                    },
                };
                let disposition = after_result(kind, outcome, row.attempt, now);
                match &disposition {
                    WorkDisposition::Retry { available_at, error } => {
                        sqlx::query(
                            "UPDATE work SET status = 'retry', available_at = $2, lease_until = NULL, \
                             lease_token = NULL, last_error = $3 WHERE id = $1",
                        )
                        .bind(work_id)
                        .bind(Timestamp::from(*available_at))
                        .bind(error)
                        .execute(&mut *tx)
                        .await?;
                    }
                    WorkDisposition::Done { error } => {
                        sqlx::query(
                            "UPDATE work SET status = 'done', completed_at = $2, lease_until = NULL, \
                             lease_token = NULL, last_error = $3 WHERE id = $1",
                        )
                        .bind(work_id)
                        .bind(Timestamp::from(now))
                        .bind(error)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok((disposition.completion(), transition))
            }

            async fn requeue_cleanups(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let mut clusters: Vec<(String,)> = sqlx::query_as(
                    "UPDATE work SET status = 'queued' WHERE status = 'retry' AND available_at <= $1 \
                     RETURNING cluster",
                )
                .bind(Timestamp::from(now))
                .fetch_all(&mut *tx)
                .await?;
                let orphans: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, cluster FROM requests r \
                     WHERE state NOT IN ('pending', 'approved', 'active') \
                     AND credentials IN ('provisioning', 'live', 'cleaning', 'cleanup_failed') \
                     AND NOT EXISTS (SELECT 1 FROM work w WHERE w.request_id = r.id AND w.status <> 'done')",
                )
                .fetch_all(&mut *tx)
                .await?;
                for (request_id, cluster) in orphans {
                    Self::enqueue(&mut tx, &cluster, WorkKind::Cleanup, &request_id, now).await?;
                    clusters.push((cluster,));
                }
                tx.commit().await?;
                let mut clusters: Vec<String> = clusters.into_iter().map(|(cluster,)| cluster).collect();
                clusters.sort();
                clusters.dedup();
                Ok(clusters)
            }

            async fn queue_depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
                let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                    "SELECT cluster, kind, status, COUNT(*) FROM work WHERE status <> 'done' \
                     GROUP BY cluster, kind, status ORDER BY cluster, kind, status",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(cluster, kind, status, count)| QueueDepth { cluster, kind, status, count })
                    .collect())
            }
        }
    };
}

pub(super) use store_impl;

/// A random, unguessable lease token.
pub(super) fn new_lease_token() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().r#gen();
    crate::digest::hex(&bytes)
}
