//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, derived with `utoipa` from the
//! handlers' `#[utoipa::path]` attributes and the body types they read and write. A test checks that
//! its paths and methods are exactly the API router's (`api::route_table`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use janus_core::domain::{CredentialsStatus, RequestState};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Response, Server};
// `ToSchema` and `PartialSchema` stay unimported: utoipa's `components(schemas(…))` expansion
// names them in full.
use utoipa::{Modify, OpenApi, ToResponse};

use super::{commands, requests, tokens};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Janus API",
        version = "1",
        description = "Just-in-time kubectl exec access. Authenticate with a session cookie, a personal API token (`Authorization: Bearer jat_…`), or the trusted proxy header. POST bodies must be `application/json`. Errors are `{\"error\":{\"code\",\"message\"}}`; times are RFC 3339 UTC."
    ),
    paths(
        super::openapi_json,
        super::me,
        requests::list,
        requests::create,
        requests::get_one,
        requests::approve,
        requests::deny,
        requests::withdraw,
        requests::revoke,
        requests::extend,
        commands::list,
        tokens::list,
        tokens::create,
        tokens::revoke,
    ),
    // Schemas the handlers' types name are collected; these are named only by query parameters.
    components(schemas(StateName, requests::WaitFor), responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        TooLarge,
        UnsupportedMediaType,
        TooManyRequests
    )),
    security(("bearer" = []), ("session" = [])),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

/// The document, with `base_url` as its server.
pub fn document(base_url: &str) -> Value {
    let mut document = ApiDoc::openapi();
    document.servers = Some(vec![Server::new(base_url.trim_end_matches('/'))]);
    serde_json::to_value(&document).unwrap_or(Value::Null)
}

/// The two ways an API client signs in (the trusted header needs no scheme of its own).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A personal API token, `jat_…`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "janus_session",
                "`__Host-janus_session` when Janus is served over https.",
            ))),
        );
    }
}

#[derive(ToResponse)]
#[response(description = "Invalid input (a sentence in `error.message`).")]
pub struct BadRequest(#[expect(dead_code, reason = "only its type is read, for the document")] ErrorBody);

#[derive(ToResponse)]
#[response(description = "Not signed in, or the API token is unknown, revoked or expired.")]
pub struct Unauthorized(#[expect(dead_code, reason = "only its type is read, for the document")] ErrorBody);

#[derive(ToResponse)]
#[response(description = "Refused: e.g. `self_approval`, `not_an_approver`, `not_the_requester`.")]
pub struct Forbidden(#[expect(dead_code, reason = "only its type is read, for the document")] ErrorBody);

#[derive(ToResponse)]
#[response(description = "No such request (or not one the caller may see).")]
pub struct NotFound(#[expect(dead_code, reason = "only its type is read, for the document")] ErrorBody);

#[derive(ToResponse)]
#[response(
    description = "The request is no longer in a state that allows this (`invalid_transition`, `stale_state`)."
)]
pub struct Conflict(#[expect(dead_code, reason = "only its type is read, for the document")] ErrorBody);

#[derive(ToResponse)]
#[response(description = "The body is larger than 64 KiB.")]
pub struct TooLarge(#[expect(dead_code, reason = "only its type is read, for the document")] ErrorBody);

#[derive(ToResponse)]
#[response(description = "The body is not `application/json`.")]
pub struct UnsupportedMediaType(
    #[expect(dead_code, reason = "only its type is read, for the document")] ErrorBody,
);

#[derive(ToResponse)]
#[response(description = "A per-user limit was reached.")]
pub struct TooManyRequests(
    #[expect(dead_code, reason = "only its type is read, for the document")] ErrorBody,
);

/// The answers a JSON-body `POST` may meet before its handler decides anything: a body that does not
/// parse (400), no caller (401), a body too large (413) or not JSON (415).
pub struct BodyRefusals;

impl utoipa::IntoResponses for BodyRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            reference::<BadRequest>(400),
            reference::<Unauthorized>(401),
            reference::<TooLarge>(413),
            reference::<UnsupportedMediaType>(415),
        ])
    }
}

/// The refusals of a command on one request (approve, deny, withdraw, revoke, extend): those of any
/// body, then a refused caller (403), an unknown request (404) and a state that does not allow it (409).
pub struct CommandRefusals;

impl utoipa::IntoResponses for CommandRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = BodyRefusals::responses();
        responses.extend([
            reference::<Forbidden>(403),
            reference::<NotFound>(404),
            reference::<Conflict>(409),
        ]);
        responses
    }
}

/// `status` answered by a reference to the shared response `R` in `components.responses`.
fn reference<R: for<'s> ToResponse<'s>>(status: u16) -> (String, RefOr<Response>) {
    let (name, _) = R::response();
    (status.to_string(), RefOr::Ref(Ref::from_response_name(name)))
}

/// A request's state, written as the domain names it.
#[derive(Debug, Clone, Copy)]
pub struct StateName(pub RequestState);

impl Serialize for StateName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl utoipa::PartialSchema for StateName {
    fn schema() -> RefOr<Schema> {
        text_enumeration(RequestState::ALL.map(RequestState::as_str))
    }
}

impl utoipa::ToSchema for StateName {
    fn name() -> Cow<'static, str> {
        "State".into()
    }
}

/// Where a request's credentials are, written as the domain names it.
#[derive(Debug, Clone, Copy)]
pub struct CredentialsName(pub CredentialsStatus);

impl Serialize for CredentialsName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl utoipa::PartialSchema for CredentialsName {
    fn schema() -> RefOr<Schema> {
        text_enumeration(CredentialsStatus::ALL.map(CredentialsStatus::as_str))
    }
}

impl utoipa::ToSchema for CredentialsName {
    fn name() -> Cow<'static, str> {
        "Credentials".into()
    }
}

fn text_enumeration<const N: usize>(values: [&'static str; N]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every route of the API router is in the document, and nothing else is.
    #[test]
    fn every_route_of_the_router_is_documented() {
        let document = document("https://janus.example.com/");
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["servers"][0]["url"], "https://janus.example.com");
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, operations)| {
                operations
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|key| !matches!(key.as_str(), "parameters" | "summary" | "description"))
                    .map(|method| (method.to_uppercase(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let routed: BTreeSet<(String, String)> = super::super::route_table().into_iter().collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn references_resolve_and_the_schemas_are_the_api_types() {
        let document = document("http://127.0.0.1:8080");
        let text = document.to_string();
        for (prefix, section) in [
            ("\"$ref\":\"#/components/schemas/", "schemas"),
            ("\"$ref\":\"#/components/responses/", "responses"),
        ] {
            for reference in text.split(prefix).skip(1) {
                let name = reference.split('"').next().unwrap();
                assert!(
                    document["components"][section][name].is_object(),
                    "{section} {name} is missing"
                );
            }
        }
        let schemas = &document["components"]["schemas"];
        for name in [
            "State",
            "Credentials",
            "Error",
            "Approval",
            "Request",
            "RequestList",
            "NewRequest",
            "Decision",
            "Reason",
            "Empty",
            "Extend",
            "Me",
            "Token",
            "TokenList",
            "NewToken",
            "NewTokenResponse",
            "QuickCommandList",
        ] {
            assert!(schemas[name].is_object(), "schema {name} is missing");
        }
        assert_eq!(
            schemas["State"]["enum"],
            serde_json::json!([
                "pending",
                "approved",
                "active",
                "expired",
                "denied",
                "revoked",
                "withdrawn",
                "failed"
            ])
        );
        assert_eq!(schemas["NewRequest"]["additionalProperties"], false);
        let security = &document["components"]["securitySchemes"];
        assert_eq!(security["bearer"]["scheme"], "bearer");
        assert_eq!(security["session"]["in"], "cookie");
        assert_eq!(security["session"]["name"], "janus_session");
        assert_eq!(
            document["security"],
            serde_json::json!([{ "bearer": [] }, { "session": [] }])
        );
        let operation_ids: Vec<&str> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|operations| operations.as_object().unwrap().values())
            .filter_map(|operation| operation["operationId"].as_str())
            .collect();
        let unique: BTreeSet<&str> = operation_ids.iter().copied().collect();
        assert_eq!(unique.len(), operation_ids.len(), "{operation_ids:?}");
        assert_eq!(unique.len(), super::super::route_table().len());
        let own = &document["paths"]["/api/v1/openapi.json"]["get"];
        assert_eq!(
            own["security"],
            serde_json::json!([{}]),
            "the document needs no sign-in"
        );
    }
}
