//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`. Written by hand; a test checks that
//! its paths and methods are exactly the API router's (`api::route_table`).

use serde_json::{Value, json};

fn error_responses(codes: &[&str]) -> Value {
    let mut responses = serde_json::Map::new();
    for code in codes {
        let description = match *code {
            "400" => "Invalid input (a sentence in `error.message`).",
            "401" => "Not signed in, or the API token is unknown, revoked or expired.",
            "403" => "Refused: e.g. `self_approval`, `not_an_approver`, `not_the_requester`.",
            "404" => "No such request (or not one the caller may see).",
            "409" => {
                "The request is no longer in a state that allows this (`invalid_transition`, `stale_state`)."
            }
            "413" => "The body is larger than 64 KiB.",
            "415" => "The body is not `application/json`.",
            "429" => "A per-user limit was reached.",
            _ => "Error.",
        };
        responses.insert(
            (*code).to_owned(),
            json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
        );
    }
    Value::Object(responses)
}

fn with_errors(ok: Value, codes: &[&str]) -> Value {
    let mut responses = error_responses(codes);
    if let (Some(responses), Some(ok)) = (responses.as_object_mut(), ok.as_object()) {
        for (status, response) in ok {
            responses.insert(status.clone(), response.clone());
        }
    }
    responses
}

fn json_body(schema: &str, required: bool) -> Value {
    json!({ "required": required, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn ok(status: &str, description: &str, schema: &str) -> Value {
    json!({ status: { "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } } })
}

fn id_parameter() -> Value {
    json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^jr-[a-z2-7]{8}$" } }])
}

fn command(summary: &str, body: Option<&str>) -> Value {
    let mut operation = json!({
        "summary": summary,
        "parameters": id_parameter(),
        "responses": with_errors(ok("200", "The request after the command.", "Request"), &["400", "401", "403", "404", "409", "415"]),
    });
    operation["requestBody"] = json_body(body.unwrap_or("Empty"), false);
    json!({ "post": operation })
}

/// The document, with `base_url` as its server.
pub fn document(base_url: &str) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Janus API",
            "version": "1",
            "description": "Just-in-time kubectl exec access. Authenticate with a session cookie, a personal API token (`Authorization: Bearer jat_…`), or the trusted proxy header. POST bodies must be `application/json`. Errors are `{\"error\":{\"code\",\"message\"}}`; times are RFC 3339 UTC.",
        },
        "servers": [{ "url": base_url.trim_end_matches('/') }],
        "security": [{ "bearer": [] }, { "session": [] }],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "A personal API token, `jat_…`." },
                "session": { "type": "apiKey", "in": "cookie", "name": "janus_session", "description": "`__Host-janus_session` when Janus is served over https." },
            },
            "schemas": schemas(),
        },
    })
}

fn paths() -> Value {
    json!({
        "/api/v1/openapi.json": { "get": {
            "summary": "This document.", "security": [],
            "responses": { "200": { "description": "OpenAPI 3.1 document.", "content": { "application/json": {} } } },
        } },
        "/api/v1/me": { "get": {
            "summary": "Who the caller is and which clusters they approve.",
            "responses": with_errors(ok("200", "The caller.", "Me"), &["401"]),
        } },
        "/api/v1/requests": {
            "get": {
                "summary": "List requests the caller may see (own, and those of clusters they approve), newest first.",
                "parameters": [
                    { "name": "state", "in": "query", "schema": { "$ref": "#/components/schemas/State" } },
                    { "name": "cluster", "in": "query", "schema": { "type": "string" } },
                    { "name": "requester", "in": "query", "schema": { "type": "string", "format": "email" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 100 } },
                ],
                "responses": with_errors(ok("200", "The requests.", "RequestList"), &["400", "401"]),
            },
            "post": {
                "summary": "Submit a request.",
                "requestBody": json_body("NewRequest", true),
                "responses": with_errors(ok("201", "The new, pending request.", "Request"), &["400", "401", "409", "413", "415", "429"]),
            },
        },
        "/api/v1/requests/{id}": { "get": {
            "summary": "One request. With `waitFor`, answers as soon as the request is active or ended (`active`), decided (`decided`) or ended (`ended`), or after `timeout` with its current state.",
            "parameters": [
                { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } },
                { "name": "waitFor", "in": "query", "schema": { "type": "string", "enum": ["active", "decided", "ended"] } },
                { "name": "timeout", "in": "query", "schema": { "type": "string", "examples": ["25s", "1m", "30"] }, "description": "At most 60 s; default 25 s." },
            ],
            "responses": with_errors(ok("200", "The request.", "Request"), &["400", "401", "404"]),
        } },
        "/api/v1/requests/{id}/approve": command("Approve a pending request (or the pending extension of an active one). Never the requester.", Some("Decision")),
        "/api/v1/requests/{id}/deny": command("Deny a pending request (or the pending extension of an active one).", Some("Reason")),
        "/api/v1/requests/{id}/withdraw": command("The requester takes the request back (pending, approved or active).", None),
        "/api/v1/requests/{id}/revoke": command("An approver or admin ends the request (pending, approved or active).", Some("Reason")),
        "/api/v1/requests/{id}/extend": command("The requester asks for more time on an active request; approved like a request.", Some("Extend")),
        "/api/v1/requests/{id}/terminal/commands": { "get": {
            "summary": "The quick commands of the request's cluster (managed by admins on /admin/commands), for its terminal. The requester of an active request, or an admin.",
            "parameters": id_parameter(),
            "responses": with_errors(ok("200", "The commands, by name.", "QuickCommandList"), &["401", "403", "404", "409"]),
        } },
        "/api/v1/tokens": {
            "get": {
                "summary": "The caller's API tokens (never their secrets).",
                "responses": with_errors(ok("200", "The tokens.", "TokenList"), &["401"]),
            },
            "post": {
                "summary": "Create an API token; the secret is in `token`, shown only in this response. Not allowed with an API token.",
                "requestBody": json_body("NewToken", true),
                "responses": with_errors(ok("201", "The new token.", "NewTokenResponse"), &["400", "401", "403", "413", "415"]),
            },
        },
        "/api/v1/tokens/{id}": { "delete": {
            "summary": "Revoke one of the caller's API tokens.",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": with_errors(json!({ "204": { "description": "Revoked." } }), &["401", "404"]),
        } },
    })
}

fn schemas() -> Value {
    let time = json!({ "type": ["string", "null"], "format": "date-time" });
    json!({
        "State": { "type": "string", "enum": ["pending", "approved", "active", "expired", "denied", "revoked", "withdrawn", "failed"] },
        "Credentials": { "type": "string", "enum": ["none", "provisioning", "live", "cleaning", "cleaned", "cleanup_failed"] },
        "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } } },
        "Approval": { "type": "object", "required": ["by", "at"], "properties": { "by": { "type": "string" }, "at": { "type": "string", "format": "date-time" }, "ttlSeconds": { "type": "integer" }, "reason": { "type": "string" } } },
        "Request": {
            "type": "object",
            "required": ["id", "state", "requester", "cluster", "namespaces", "profile", "ttlSeconds", "reason", "approvals", "createdAt", "activatedAt", "expiresAt", "endedAt", "endReason", "credentials"],
            "properties": {
                "id": { "type": "string" }, "state": { "$ref": "#/components/schemas/State" },
                "requester": { "type": "string" }, "cluster": { "type": "string" },
                "namespaces": { "type": "array", "items": { "type": "string" } },
                "profile": { "type": "string" }, "ttlSeconds": { "type": "integer" },
                "requestedTtlSeconds": { "type": "integer" }, "reason": { "type": "string" },
                "approvals": { "type": "array", "items": { "$ref": "#/components/schemas/Approval" } },
                "approvalsRequired": { "type": "integer" },
                "createdAt": { "type": "string", "format": "date-time" }, "decidedAt": time.clone(),
                "activatedAt": time.clone(), "expiresAt": time.clone(), "endedAt": time,
                "endReason": { "type": ["string", "null"] }, "denyReason": { "type": ["string", "null"] },
                "credentials": { "$ref": "#/components/schemas/Credentials" },
                "extension": { "type": ["object", "null"], "properties": { "ttlSeconds": { "type": "integer" }, "reason": { "type": "string" }, "requestedAt": { "type": "string", "format": "date-time" }, "approvals": { "type": "array", "items": { "$ref": "#/components/schemas/Approval" } } } },
                "extensions": { "type": "integer" },
                "origin": { "type": "string", "enum": ["web", "api", "slack", "discord"] },
                "link": { "type": ["string", "null"], "description": "The signed terminal link, for the requester of an active request." },
            },
        },
        "RequestList": { "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": { "$ref": "#/components/schemas/Request" } } } },
        "NewRequest": { "type": "object", "required": ["cluster", "namespaces", "reason"], "additionalProperties": false, "properties": { "cluster": { "type": "string" }, "namespaces": { "type": "array", "items": { "type": "string" }, "minItems": 1 }, "ttlSeconds": { "type": "integer", "minimum": 600 }, "reason": { "type": "string", "maxLength": 500 }, "profile": { "type": "string" } } },
        "Decision": { "type": "object", "additionalProperties": false, "properties": { "ttlSeconds": { "type": "integer" }, "reason": { "type": "string" } } },
        "Reason": { "type": "object", "additionalProperties": false, "properties": { "reason": { "type": "string" } } },
        "Empty": { "type": "object", "additionalProperties": false },
        "Extend": { "type": "object", "required": ["ttlSeconds", "reason"], "additionalProperties": false, "properties": { "ttlSeconds": { "type": "integer" }, "reason": { "type": "string" } } },
        "Me": { "type": "object", "properties": { "principal": { "type": "string" }, "groups": { "type": "array", "items": { "type": "string" } }, "isAdmin": { "type": "boolean" }, "approverOf": { "type": "array", "items": { "type": "string" } }, "credential": { "type": "string", "enum": ["session", "token", "header"] } } },
        "Token": { "type": "object", "properties": { "id": { "type": "string" }, "name": { "type": "string" }, "createdAt": { "type": "string", "format": "date-time" }, "expiresAt": { "type": "string", "format": "date-time" }, "lastUsedAt": { "type": ["string", "null"], "format": "date-time" }, "revokedAt": { "type": ["string", "null"], "format": "date-time" } } },
        "TokenList": { "type": "object", "properties": { "items": { "type": "array", "items": { "$ref": "#/components/schemas/Token" } } } },
        "NewToken": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": { "name": { "type": "string", "maxLength": 100 }, "expiresInSeconds": { "type": "integer", "minimum": 60, "maximum": 31536000 } } },
        "QuickCommandList": { "type": "object", "required": ["items"], "properties": { "items": { "type": "array", "items": { "type": "object", "required": ["id", "name", "command"], "properties": { "id": { "type": "string" }, "name": { "type": "string" }, "command": { "type": "string", "description": "One line; the terminal sends it followed by Enter." } } } } } },
        "NewTokenResponse": { "allOf": [{ "$ref": "#/components/schemas/Token" }, { "type": "object", "required": ["token"], "properties": { "token": { "type": "string" } } }] },
    })
}
