//! The authorization matrix: every state-changing API call × every kind of caller, through a
//! session and through an API token. Every cell is asserted: the status, the error code, the
//! request's state afterwards, and for each refusal a `command.refused` audit event.

use janus_core::domain::{AccessRequest, Actor, Command, RequestState};
use janus_fixtures::browser::Browser;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::web::{ADMIN, ALICE, BOB, ERIN, GRACE, MALLORY, api};
use crate::support::{both_backends, person};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Approve,
    Deny,
    Withdraw,
    Revoke,
    Extend,
    /// `approve` on an Active request with a pending extension.
    ApproveExtension,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Requester,
    OtherUser,
    /// Listed by email as an approver of the request's cluster.
    Approver,
    /// An approver of the request's cluster through the `prod-approvers` group (sessions only:
    /// API tokens carry no identity-provider groups).
    GroupApprover,
    /// An approver of another cluster.
    OtherApprover,
    Admin,
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Session,
    Token,
}

const CALLS: [Call; 6] = [
    Call::Approve,
    Call::Deny,
    Call::Withdraw,
    Call::Revoke,
    Call::Extend,
    Call::ApproveExtension,
];
const WHO: [Who; 7] = [
    Who::Requester,
    Who::OtherUser,
    Who::Approver,
    Who::GroupApprover,
    Who::OtherApprover,
    Who::Admin,
    Who::Anonymous,
];

impl Who {
    fn email(self) -> Option<&'static str> {
        match self {
            Who::Requester => Some(ALICE),
            Who::OtherUser => Some(MALLORY),
            Who::Approver => Some(BOB),
            Who::GroupApprover => Some(GRACE),
            Who::OtherApprover => Some(ERIN),
            Who::Admin => Some(ADMIN),
            Who::Anonymous => None,
        }
    }

    fn groups(self) -> &'static [&'static str] {
        if self == Who::GroupApprover {
            &["prod-approvers"]
        } else {
            &[]
        }
    }

    /// May approve or deny requests of `prod` through this credential.
    fn approves_prod(self, via: Via) -> bool {
        match self {
            Who::Approver | Who::Admin => true,
            Who::GroupApprover => via == Via::Session,
            _ => false,
        }
    }
}

impl Call {
    fn verb(self) -> &'static str {
        match self {
            Call::Approve | Call::ApproveExtension => "approve",
            Call::Deny => "deny",
            Call::Withdraw => "withdraw",
            Call::Revoke => "revoke",
            Call::Extend => "extend",
        }
    }

    fn body(self) -> Value {
        match self {
            Call::Extend => json!({ "ttlSeconds": 3600, "reason": "need more time" }),
            Call::Deny | Call::Revoke => json!({ "reason": "matrix" }),
            _ => json!({}),
        }
    }

    /// `Ok(())` for success, `Err(code)` for a 403 with that code (anonymous is always 401).
    fn expected(self, who: Who, via: Via) -> Result<(), &'static str> {
        match self {
            Call::Approve | Call::ApproveExtension => match who {
                Who::Requester => Err("self_approval"),
                _ if who.approves_prod(via) => Ok(()),
                _ => Err("not_an_approver"),
            },
            // Deny and revoke only reduce access: the requester may, as may approvers.
            Call::Deny | Call::Revoke => {
                if who == Who::Requester || who.approves_prod(via) {
                    Ok(())
                } else {
                    Err("not_an_approver")
                }
            }
            Call::Withdraw | Call::Extend => {
                if who == Who::Requester {
                    Ok(())
                } else {
                    Err("not_the_requester")
                }
            }
        }
    }

    /// A fresh request of alice on `prod` in the state this call applies to.
    async fn prepare(self, app: &TestApp, cell: usize) -> AccessRequest {
        let namespace = format!("ns{cell}");
        match self {
            Call::Approve | Call::Deny | Call::Withdraw => {
                app.submit_on(ALICE, "prod", &[namespace.as_str()]).await
            }
            Call::Revoke | Call::Extend => app.active_on(ALICE, "prod", &[namespace.as_str()]).await,
            Call::ApproveExtension => {
                let request = app.active_on(ALICE, "prod", &[namespace.as_str()]).await;
                let command = Command::RequestExtension {
                    ttl_seconds: 3_600,
                    reason: "more".into(),
                };
                app.workflow
                    .execute(&request.id, None, command, &Actor::Person(person(ALICE)))
                    .await
                    .unwrap()
            }
        }
    }

    /// Checks the request after an accepted call.
    fn check_accepted(self, after: &AccessRequest) {
        match self {
            Call::Approve => assert_eq!(after.state, RequestState::Approved),
            Call::Deny => assert_eq!(after.state, RequestState::Denied),
            Call::Withdraw => assert_eq!(after.state, RequestState::Withdrawn),
            Call::Revoke => assert_eq!(after.state, RequestState::Revoked),
            Call::Extend => {
                assert_eq!(after.state, RequestState::Active);
                assert!(after.extension.is_some());
            }
            Call::ApproveExtension => {
                assert!(after.extension.is_none());
                assert_eq!(after.extensions, 1);
            }
        }
    }
}

both_backends!(with crate::support::TestApp::builder().config(crate::support::web::web("{}")); every_call_by_every_caller);

async fn every_call_by_every_caller(app: &TestApp) {
    let mut cell = 0;
    let mut checked = 0;
    for call in CALLS {
        for who in WHO {
            for via in [Via::Session, Via::Token] {
                if who == Who::Anonymous && via == Via::Token {
                    continue;
                }
                cell += 1;
                let request = call.prepare(app, cell).await;
                let url = app.url(&format!("/api/v1/requests/{}/{}", request.id, call.verb()));
                let (status, body) = match (who.email(), via) {
                    (None, _) => api(Method::POST, &url, None, Some(call.body())).await,
                    (Some(email), Via::Token) => {
                        let token = app.api_token(email).await;
                        api(Method::POST, &url, Some(&token), Some(call.body())).await
                    }
                    (Some(email), Via::Session) => {
                        let browser: Browser = app.browser_as(email, who.groups()).await;
                        let body = call.body();
                        let page = browser
                            .send(Method::POST, &url, move |request| request.json(&body))
                            .await
                            .unwrap();
                        (page.status, serde_json::from_str(&page.body).unwrap_or_default())
                    }
                };
                let after = app.workflow.get(&request.id).await.unwrap();
                let label = format!("{call:?} by {who:?} via {via:?}");
                let refusals: Vec<(String, String)> = app
                    .store
                    .audit_for_request(&request.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|event| event.action == "command.refused")
                    .map(|event| {
                        (
                            event.actor,
                            event.details["code"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                if who == Who::Anonymous {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{label}: {body}");
                    assert_eq!(body["error"]["code"], "unauthenticated", "{label}");
                    assert_eq!(after, request, "{label}: nothing changed");
                    checked += 1;
                    continue;
                }
                match call.expected(who, via) {
                    Ok(()) => {
                        assert_eq!(status, StatusCode::OK, "{label}: {body}");
                        assert_eq!(body["id"], request.id.as_str(), "{label}");
                        call.check_accepted(&after);
                        assert!(refusals.is_empty(), "{label}: nothing refused");
                    }
                    Err(code) => {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{label}: {body}");
                        assert_eq!(body["error"]["code"], code, "{label}");
                        assert_eq!(after.state, request.state, "{label}: state unchanged");
                        assert_eq!(after.version, request.version, "{label}: nothing written");
                        let actor = who.email().unwrap_or_default().to_owned();
                        assert_eq!(
                            refusals,
                            vec![(actor, code.to_owned())],
                            "{label}: refusal audited"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * (6 * 2 + 1), "every cell was asserted");
}
