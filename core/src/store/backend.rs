//! The SQL both backends share, stamped out once per backend by [`store_impl!`].
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
            pub async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            pub async fn close(&self) {
                self.pool.close().await;
            }

            async fn load_locked(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: &str,
            ) -> Result<Option<AccessRequest>, StoreError> {
                let row: Option<RequestRow> = sqlx::query_as(concat!(
                    "SELECT id, requester, origin, cluster, namespaces, profile, requested_ttl_seconds, \
                     ttl_seconds, reason, state, credentials, approvals, deny_reason, extension, extensions, \
                     created_at, decided_at, activated_at, expires_at, ended_at, end_reason, version \
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
                         end_reason, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                         $14, $15, $16, $17, $18, $19, $20, $21, $22)",
                    ),
                    Some(_) => sqlx::query(
                        "UPDATE requests SET requester = $2, origin = $3, cluster = $4, namespaces = $5, \
                         profile = $6, requested_ttl_seconds = $7, ttl_seconds = $8, reason = $9, state = $10, \
                         credentials = $11, approvals = $12, deny_reason = $13, extension = $14, \
                         extensions = $15, created_at = $16, decided_at = $17, activated_at = $18, \
                         expires_at = $19, ended_at = $20, end_reason = $21, version = $22 \
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

            pub async fn insert_request(
                &self,
                requester: &str,
                cluster: &str,
                now: DateTime<Utc>,
                build: impl FnOnce(&UserActivity, Option<&[String]>) -> Result<Transition, DomainError>,
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

            pub async fn update_request(
                &self,
                id: &RequestId,
                expected: Option<RequestState>,
                now: DateTime<Utc>,
                apply: impl FnOnce(&AccessRequest) -> Result<Transition, DomainError>,
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
            pub async fn update_requests(
                &self,
                ids: &[RequestId],
                expected: RequestState,
                now: DateTime<Utc>,
                apply: impl Fn(&AccessRequest) -> Result<Transition, DomainError>,
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

            pub async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
                let row: Option<RequestRow> = sqlx::query_as(
                    "SELECT id, requester, origin, cluster, namespaces, profile, requested_ttl_seconds, \
                     ttl_seconds, reason, state, credentials, approvals, deny_reason, extension, extensions, \
                     created_at, decided_at, activated_at, expires_at, ended_at, end_reason, version \
                     FROM requests WHERE id = $1",
                )
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(RequestRow::into_domain).transpose()
            }

            pub async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<AccessRequest>, StoreError> {
                let rows: Vec<RequestRow> = sqlx::query_as(
                    "SELECT id, requester, origin, cluster, namespaces, profile, requested_ttl_seconds, \
                     ttl_seconds, reason, state, credentials, approvals, deny_reason, extension, extensions, \
                     created_at, decided_at, activated_at, expires_at, ended_at, end_reason, version \
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

            pub async fn count_by_state(&self) -> Result<Vec<(String, i64)>, StoreError> {
                Ok(sqlx::query_as("SELECT state, COUNT(*) FROM requests GROUP BY state ORDER BY state")
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub async fn append_audit(&self, events: &[NewEvent], now: DateTime<Utc>) -> Result<(), StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                Self::append_events(&mut tx, events, now).await?;
                tx.commit().await?;
                Ok(())
            }

            pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
                Ok(sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?)
            }

            pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
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

            pub async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, StoreError> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT seq, at, actor, action, request_id, cluster, details, prev_hash, hash \
                     FROM audit_events WHERE request_id = $1 ORDER BY seq",
                )
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(AuditRow::into_record).collect())
            }

            pub async fn claim_work(
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
                    let wanted = match (kind, request) {
                        (_, None) => None,
                        (WorkKind::Grant, Some(request))
                            if !matches!(request.state, RequestState::Approved | RequestState::Active) =>
                        {
                            None
                        }
                        (_, Some(request)) => Some(request),
                    };
                    let Some(request) = wanted else {
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

            pub async fn complete_work(
                &self,
                work_id: i64,
                cluster: &str,
                lease_token: &str,
                outcome: &WorkOutcome,
                now: DateTime<Utc>,
                apply: impl FnOnce(&AccessRequest, WorkKind) -> Result<Transition, DomainError>,
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
                if row.cluster != cluster {
                    return Err(DomainError::WrongAgent.into());
                }
                let kind = WorkKind::parse(&row.kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("work {}: unknown kind", row.id)))?;
                if row.status == "done" {
                    tx.commit().await?;
                    return Ok((Completion::AlreadyDone, None));
                }
                let token_matches = row.lease_token.as_deref().is_some_and(|token| {
                    subtle::ConstantTimeEq::ct_eq(token.as_bytes(), lease_token.as_bytes()).into()
                });
                if row.status != "leased" || !token_matches {
                    return Err(StoreError::LeaseLost);
                }
                let request = Self::load_locked(&mut tx, &row.request_id).await?;
                let transition = match request {
                    None => None,
                    Some(request) => match apply(&request, kind) {
                        Ok(transition) => {
                            Self::write_transition(&mut tx, &transition, Some(request.version), now).await?;
                            Some(transition)
                        }
                        // A result the request no longer needs (a second cleanup after the
                        // first succeeded): finish the row, change nothing else.
                        Err(DomainError::InvalidTransition { .. }) => None,
                        Err(refused) => return Err(refused.into()),
                    },
                };
                let retry = matches!(outcome, WorkOutcome::Failed { .. }) && kind == WorkKind::Cleanup;
                let error = match outcome {
                    WorkOutcome::Succeeded => None,
                    WorkOutcome::Failed { error } => Some(error.chars().take(1000).collect::<String>()),
                };
                if retry {
                    let backoff = chrono::TimeDelta::from_std(cleanup_backoff(row.attempt))
                        .unwrap_or(chrono::TimeDelta::minutes(5));
                    sqlx::query(
                        "UPDATE work SET status = 'retry', available_at = $2, lease_until = NULL, \
                         lease_token = NULL, last_error = $3 WHERE id = $1",
                    )
                    .bind(work_id)
                    .bind(Timestamp::from(now + backoff))
                    .bind(&error)
                    .execute(&mut *tx)
                    .await?;
                } else {
                    sqlx::query(
                        "UPDATE work SET status = 'done', completed_at = $2, lease_until = NULL, \
                         lease_token = NULL, last_error = $3 WHERE id = $1",
                    )
                    .bind(work_id)
                    .bind(Timestamp::from(now))
                    .bind(&error)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                let completion = if retry { Completion::RetryScheduled } else { Completion::Recorded };
                Ok((completion, transition))
            }

            pub async fn requeue_cleanups(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
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

            pub async fn queue_depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
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

            pub async fn due(
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

            pub async fn purge_finished(&self, ended_before: DateTime<Utc>) -> Result<u64, StoreError> {
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

            pub async fn set_namespaces(
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

            pub async fn namespaces(&self, cluster: &str) -> Result<Option<Vec<String>>, StoreError> {
                Self::known_namespaces(&self.pool, cluster).await
            }

            pub async fn create_join_token(
                &self,
                token_hash: &str,
                cluster: &str,
                created_by: &str,
                expires_at: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                sqlx::query(
                    "INSERT INTO agent_join_tokens (token_hash, cluster, created_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(cluster)
                .bind(created_by)
                .bind(Timestamp::from(now))
                .bind(Timestamp::from(expires_at))
                .execute(&mut *tx)
                .await?;
                let event = NewEvent {
                    action: crate::domain::AuditAction::AgentJoinTokenCreated,
                    actor: created_by.to_owned(),
                    request_id: None,
                    cluster: Some(cluster.to_owned()),
                    details: serde_json::json!({ "expiresAt": crate::time::format_rfc3339(expires_at) }),
                };
                Self::append_events(&mut tx, &[event], now).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Spends a join token and pins the agent's key, or says why not. A refusal
            /// writes nothing here; the caller audits it.
            pub async fn enroll(
                &self,
                token_hash: &str,
                cluster: &str,
                public_key: &str,
                agent_version: &str,
                now: DateTime<Utc>,
            ) -> Result<Result<(), EnrollmentRefusal>, StoreError> {
                let (_writer, mut tx) = self.begin().await?;
                let row: Option<(String, Timestamp, Option<Timestamp>)> = sqlx::query_as(concat!(
                    "SELECT cluster, expires_at, used_at FROM agent_join_tokens WHERE token_hash = $1",
                    $for_update
                ))
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let refusal = match &row {
                    None => Some(EnrollmentRefusal::UnknownToken),
                    Some((_, _, Some(_))) => Some(EnrollmentRefusal::TokenUsed),
                    Some((_, expires_at, _)) if expires_at.0 <= now => Some(EnrollmentRefusal::TokenExpired),
                    Some((token_cluster, _, _)) if token_cluster != cluster => Some(EnrollmentRefusal::WrongCluster),
                    Some(_) => None,
                };
                if let Some(refusal) = refusal {
                    tx.rollback().await?;
                    return Ok(Err(refusal));
                }
                sqlx::query("UPDATE agent_join_tokens SET used_at = $2 WHERE token_hash = $1")
                    .bind(token_hash)
                    .bind(Timestamp::from(now))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO agents (cluster, public_key, agent_version, enrolled_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (cluster) DO UPDATE SET \
                     public_key = excluded.public_key, agent_version = excluded.agent_version, \
                     enrolled_at = excluded.enrolled_at, last_seen_at = excluded.last_seen_at",
                )
                .bind(cluster)
                .bind(public_key)
                .bind(agent_version)
                .bind(Timestamp::from(now))
                .execute(&mut *tx)
                .await?;
                let event = NewEvent {
                    action: crate::domain::AuditAction::AgentEnrolled,
                    actor: format!("agent:{cluster}"),
                    request_id: None,
                    cluster: Some(cluster.to_owned()),
                    details: serde_json::json!({ "publicKey": public_key, "agentVersion": agent_version }),
                };
                Self::append_events(&mut tx, &[event], now).await?;
                tx.commit().await?;
                Ok(Ok(()))
            }

            pub async fn agent_public_key(&self, cluster: &str) -> Result<Option<String>, StoreError> {
                let row: Option<(String,)> = sqlx::query_as("SELECT public_key FROM agents WHERE cluster = $1")
                    .bind(cluster)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(key,)| key))
            }

            pub async fn agent_seen(&self, cluster: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("UPDATE agents SET last_seen_at = $2 WHERE cluster = $1")
                    .bind(cluster)
                    .bind(Timestamp::from(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
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
