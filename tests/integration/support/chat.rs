//! Steps the Slack and Discord stories share: reading a request id out of an answer, and
//! checking the terminal link a card's thread carries.

use janus_core::domain::{Actor, Command, RequestId, RequestState};
use janus_core::links::{LinkParams, LinkSigner};

use super::TestApp;

/// The id in "Request <id> submitted, waiting for approval." — the answer to `/janus request`.
pub fn submitted_id(answer: &str) -> RequestId {
    let id = answer
        .split_whitespace()
        .find_map(RequestId::parse)
        .unwrap_or_else(|| panic!("no request id in {answer:?}"));
    assert_eq!(answer, format!("Request {id} submitted, waiting for approval."));
    id
}

impl TestApp {
    /// admin@example.com revokes the pending request `id` through the workflow directly — a
    /// change made outside chat, which the card must show all the same.
    pub async fn admin_revokes_pending(&self, id: &RequestId) {
        self.workflow
            .execute(
                id,
                Some(RequestState::Pending),
                Command::Revoke { reason: None },
                &Actor::Person(super::person("admin@example.com")),
            )
            .await
            .unwrap();
    }

    /// `url` opens `id`'s terminal, is bound to Alice (Bob cannot use it) and is valid until the
    /// request's expiry, checked at `now`.
    pub async fn assert_link_for_alice(&self, id: &RequestId, url: &str, now: i64) {
        let expiry = self.link_expiry_for_alice(id, url, now);
        let request = self.workflow.get(id).await.unwrap();
        assert_eq!(Some(expiry), request.expires_at.map(|at| at.timestamp()));
    }

    /// When the terminal link `url` of `id` stops working: it opens `/t/{id}`, is signed with
    /// the configured keys for Alice, and is refused to Bob.
    pub fn link_expiry_for_alice(&self, id: &RequestId, url: &str, now: i64) -> i64 {
        let (path, query) = url.split_once('?').unwrap();
        assert!(path.ends_with(&format!("/t/{id}")), "{url}");
        let params = LinkParams::from_query(query).unwrap();
        let signer = LinkSigner::from_config(&self.config.links).unwrap();
        let verified = signer
            .verify(id.as_str(), &params, Some("alice@example.com"), now)
            .unwrap();
        assert!(
            signer
                .verify(id.as_str(), &params, Some("bob@example.com"), now)
                .is_err()
        );
        verified.expires_at
    }
}
