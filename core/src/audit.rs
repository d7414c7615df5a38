//! The audit log: append-only and hash-chained.
//!
//! Every event row carries `prev_hash` and `hash = hex(SHA-256(prev_hash ‖ "\n" ‖ canonical))`,
//! where `canonical` is the JSON array `[seq, at, actor, action, request_id, cluster, details]`
//! with `at` in fixed-width RFC 3339 (microseconds, `Z`) and object keys sorted at every
//! depth. The first event's `prev_hash` is 64 zeros. A one-row `audit_head` table holds the
//! last sequence number and hash, so a deleted tail is detected too.
//!
//! Appends happen inside the same database transaction as the state change they record
//! (see `crate::store`), serialised by the head row, so the chain has no gaps or forks.
//! Database triggers refuse UPDATE and DELETE on events; the chain catches anyone who
//! drops the triggers first.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::time::format_rfc3339;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(serialize_with = "serialize_time")]
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub request_id: Option<String>,
    pub cluster: Option<String>,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

fn serialize_time<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_rfc3339(*at))
}

/// The fields that are hashed (everything but the hashes themselves).
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub request_id: Option<&'a str>,
    pub cluster: Option<&'a str>,
    pub details: &'a Value,
}

impl AuditRecord {
    pub fn fields(&self) -> EventFields<'_> {
        EventFields {
            seq: self.seq,
            at: self.at,
            actor: &self.actor,
            action: &self.action,
            request_id: self.request_id.as_deref(),
            cluster: self.cluster.as_deref(),
            details: &self.details,
        }
    }
}

/// The canonical encoding of an event (see the module doc).
pub fn canonical(fields: &EventFields<'_>) -> String {
    let mut out = String::with_capacity(256);
    out.push('[');
    let _ = write!(out, "{}", fields.seq);
    out.push(',');
    write_json_string(&mut out, &format_rfc3339(fields.at));
    out.push(',');
    write_json_string(&mut out, fields.actor);
    out.push(',');
    write_json_string(&mut out, fields.action);
    for optional in [fields.request_id, fields.cluster] {
        out.push(',');
        match optional {
            Some(text) => write_json_string(&mut out, text),
            None => out.push_str("null"),
        }
    }
    out.push(',');
    write_canonical_json(&mut out, fields.details);
    out.push(']');
    out
}

/// `hex(SHA-256(prev_hash ‖ "\n" ‖ canonical))`.
pub fn chain_hash(prev_hash: &str, fields: &EventFields<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical(fields).as_bytes());
    crate::digest::hex(&hasher.finalize())
}

/// JSON with object keys sorted at every depth; the form details are stored and hashed in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical_json(&mut out, value);
    out
}

fn write_canonical_json(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_canonical_json(out, item);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical_json(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_json_string(out: &mut String, text: &str) {
    out.push_str(&Value::String(text.to_owned()).to_string());
}

/// Where a chain stops holding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("audit event {seq}: its content does not match its hash (the row was changed)")]
    Altered { seq: i64 },
    #[error(
        "audit event {seq}: it does not follow the event before it (a row was removed, inserted or reordered)"
    )]
    Unlinked { seq: i64 },
    #[error("audit event {seq} is missing (expected after {after})")]
    Missing { seq: i64, after: i64 },
    #[error("audit log ends at event {last} but the chain head records {head} (the tail was removed)")]
    Truncated { last: i64, head: i64 },
}

impl ChainBreak {
    /// The first sequence number at which the chain is broken.
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::Altered { seq } | ChainBreak::Unlinked { seq } | ChainBreak::Missing { seq, .. } => {
                *seq
            }
            ChainBreak::Truncated { last, .. } => last + 1,
        }
    }
}

/// Walks events in sequence order, one at a time, so a large log is never loaded whole.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    count: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            count: 0,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, record: &AuditRecord) -> Result<(), ChainBreak> {
        if record.seq != self.expected_seq {
            return Err(ChainBreak::Missing {
                seq: self.expected_seq,
                after: self.expected_seq - 1,
            });
        }
        if record.prev_hash != self.prev_hash {
            return Err(ChainBreak::Unlinked { seq: record.seq });
        }
        if chain_hash(&record.prev_hash, &record.fields()) != record.hash {
            return Err(ChainBreak::Altered { seq: record.seq });
        }
        self.expected_seq += 1;
        self.prev_hash.clone_from(&record.hash);
        self.count += 1;
        Ok(())
    }

    /// Checks the end of the walk against the chain head.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<u64, ChainBreak> {
        let last = self.expected_seq - 1;
        if last < head_seq {
            return Err(ChainBreak::Truncated { last, head: head_seq });
        }
        if last > head_seq || self.prev_hash != head_hash {
            return Err(ChainBreak::Unlinked { seq: last });
        }
        Ok(self.count)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(seq: i64, prev_hash: &str, details: Value) -> AuditRecord {
        let at = DateTime::from_timestamp(1_893_456_000 + seq, 0).unwrap();
        let mut record = AuditRecord {
            seq,
            at,
            actor: "alice@example.com".into(),
            action: "request.submitted".into(),
            request_id: Some("jr-aaaaaaaa".into()),
            cluster: Some("prod".into()),
            details,
            prev_hash: prev_hash.into(),
            hash: String::new(),
        };
        record.hash = chain_hash(prev_hash, &record.fields());
        record
    }

    fn chain(length: i64) -> Vec<AuditRecord> {
        let mut records = Vec::new();
        let mut prev = GENESIS_HASH.to_owned();
        for seq in 1..=length {
            let next = record(seq, &prev, json!({ "n": seq }));
            prev.clone_from(&next.hash);
            records.push(next);
        }
        records
    }

    fn verify(records: &[AuditRecord], head: (i64, &str)) -> Result<u64, ChainBreak> {
        let mut verifier = ChainVerifier::default();
        for record in records {
            verifier.push(record)?;
        }
        verifier.finish(head.0, head.1)
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value = json!({ "b": 1, "a": { "d": [1, { "z": null, "y": "x" }], "c": true } });
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":true,"d":[1,{"y":"x","z":null}]},"b":1}"#
        );
    }

    #[test]
    fn intact_chain_verifies_and_counts() {
        let records = chain(5);
        let head = records[4].hash.clone();
        assert_eq!(verify(&records, (5, &head)), Ok(5));
        assert_eq!(verify(&[], (0, GENESIS_HASH)), Ok(0));
    }

    #[test]
    fn each_kind_of_tampering_names_its_row() {
        let records = chain(5);
        let head = records[4].hash.clone();

        let mut altered = records.clone();
        altered[2].actor = "mallory@example.com".into();
        assert_eq!(verify(&altered, (5, &head)), Err(ChainBreak::Altered { seq: 3 }));

        let mut deleted = records.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted, (5, &head)).map_err(|e| e.seq()), Err(2));

        let mut swapped = records.clone();
        swapped.swap(1, 2);
        (swapped[1].seq, swapped[2].seq) = (2, 3);
        assert_eq!(verify(&swapped, (5, &head)).map_err(|e| e.seq()), Err(2));

        let truncated = &records[..4];
        assert_eq!(
            verify(truncated, (5, &head)),
            Err(ChainBreak::Truncated { last: 4, head: 5 })
        );
    }
}
