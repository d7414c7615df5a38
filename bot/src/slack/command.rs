//! `/janus …` as typed: parsed into a command, or refused with the exact problem and the
//! usage line. Nothing is created from input that does not parse.

use janus_core::domain::RequestId;
use janus_core::duration::parse_duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlashCommand {
    Help,
    /// `/janus request` with no arguments: the modal.
    OpenRequestModal,
    Request {
        cluster: String,
        namespaces: Vec<String>,
        ttl_seconds: u64,
        reason: String,
    },
    List,
    Status(RequestId),
    Withdraw(RequestId),
    Revoke {
        id: RequestId,
        reason: Option<String>,
    },
    Extend {
        id: RequestId,
        ttl_seconds: u64,
        reason: String,
    },
}

pub const USAGE_REQUEST: &str =
    "/janus request <cluster> <namespace[,namespace…]> <ttl: 90m | 2h | 3600> <reason…>";
pub const USAGE_EXTEND: &str = "/janus extend <request id> <ttl: 90m | 2h | 3600> <reason…>";

pub const HELP: &str = "*Janus* — just-in-time `kubectl exec` access.\n\
• `/janus request` — open the request form\n\
• `/janus request <cluster> <namespace[,namespace…]> <ttl> <reason…>` — e.g. `/janus request prod-eu payments,checkout 2h investigating 500s`\n\
• `/janus list` — your live and recent requests\n\
• `/janus status <id>` — one request\n\
• `/janus withdraw <id>` — take back your request (ends access)\n\
• `/janus revoke <id> [reason]` — end someone's access (approvers and admins)\n\
• `/janus extend <id> <ttl> <reason…>` — ask for more time\n\
• `/janus help` — this message";

/// Parses the text after `/janus`.
pub fn parse(text: &str) -> Result<SlashCommand, String> {
    let mut words = text.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(SlashCommand::Help);
    };
    let rest: Vec<&str> = words.collect();
    match verb.to_ascii_lowercase().as_str() {
        "help" => Ok(SlashCommand::Help),
        "list" | "ls" => Ok(SlashCommand::List),
        "request" if rest.is_empty() => Ok(SlashCommand::OpenRequestModal),
        "request" => parse_request(&rest),
        "status" => Ok(SlashCommand::Status(one_id(&rest, "/janus status <request id>")?)),
        "withdraw" => Ok(SlashCommand::Withdraw(one_id(
            &rest,
            "/janus withdraw <request id>",
        )?)),
        "revoke" => {
            let usage = "/janus revoke <request id> [reason…]";
            let id = request_id(rest.first().copied(), usage)?;
            let reason = (rest.len() > 1).then(|| rest[1..].join(" "));
            Ok(SlashCommand::Revoke { id, reason })
        }
        "extend" => {
            let id = request_id(rest.first().copied(), USAGE_EXTEND)?;
            let ttl_seconds = ttl(rest.get(1).copied(), USAGE_EXTEND)?;
            let reason = reason(&rest, 2, USAGE_EXTEND)?;
            Ok(SlashCommand::Extend {
                id,
                ttl_seconds,
                reason,
            })
        }
        other => Err(format!(
            "\"{}\" is not a Janus command. Try `/janus help`.",
            other.chars().take(40).collect::<String>()
        )),
    }
}

fn parse_request(rest: &[&str]) -> Result<SlashCommand, String> {
    let cluster = rest
        .first()
        .ok_or_else(|| missing("a cluster", USAGE_REQUEST))?
        .to_string();
    let raw_namespaces = rest
        .get(1)
        .ok_or_else(|| missing("the namespaces", USAGE_REQUEST))?;
    let namespaces: Vec<String> = raw_namespaces
        .split(',')
        .map(str::trim)
        .filter(|ns| !ns.is_empty())
        .map(str::to_owned)
        .collect();
    if namespaces.is_empty() {
        return Err(missing("the namespaces", USAGE_REQUEST));
    }
    let ttl_seconds = ttl(rest.get(2).copied(), USAGE_REQUEST)?;
    let reason = reason(rest, 3, USAGE_REQUEST)?;
    Ok(SlashCommand::Request {
        cluster,
        namespaces,
        ttl_seconds,
        reason,
    })
}

fn missing(what: &str, usage: &str) -> String {
    format!("Missing {what}. Usage: `{usage}`")
}

fn one_id(rest: &[&str], usage: &str) -> Result<RequestId, String> {
    if rest.len() > 1 {
        return Err(format!("Too many words. Usage: `{usage}`"));
    }
    request_id(rest.first().copied(), usage)
}

fn request_id(raw: Option<&str>, usage: &str) -> Result<RequestId, String> {
    let raw = raw.ok_or_else(|| missing("the request id", usage))?;
    RequestId::parse(raw).ok_or_else(|| {
        format!(
            "\"{}\" is not a request id (they look like jr-4k2m9x7q). Usage: `{usage}`",
            raw.chars().take(40).collect::<String>()
        )
    })
}

fn ttl(raw: Option<&str>, usage: &str) -> Result<u64, String> {
    let raw = raw.ok_or_else(|| missing("the TTL", usage))?;
    parse_duration(raw).map_err(|problem| format!("{problem} Usage: `{usage}`"))
}

fn reason(rest: &[&str], from: usize, usage: &str) -> Result<String, String> {
    if rest.len() <= from {
        return Err(missing("a reason", usage));
    }
    Ok(rest[from..].join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_full_request() {
        assert_eq!(
            parse("request prod-eu payments,checkout 2h investigating 500s on /pay"),
            Ok(SlashCommand::Request {
                cluster: "prod-eu".into(),
                namespaces: vec!["payments".into(), "checkout".into()],
                ttl_seconds: 7_200,
                reason: "investigating 500s on /pay".into(),
            })
        );
        assert_eq!(parse("request"), Ok(SlashCommand::OpenRequestModal));
        assert_eq!(parse(""), Ok(SlashCommand::Help));
        assert_eq!(parse("LIST"), Ok(SlashCommand::List));
    }

    #[test]
    fn names_the_exact_problem_and_the_usage() {
        let cases = [
            ("request prod-eu", "Missing the namespaces"),
            ("request prod-eu payments", "Missing the TTL"),
            ("request prod-eu payments 2h", "Missing a reason"),
            (
                "request prod-eu payments soon because",
                "`soon` is not a duration",
            ),
            ("request prod-eu , 2h why", "Missing the namespaces"),
            ("status", "Missing the request id"),
            ("status jr-x", "\"jr-x\" is not a request id"),
            ("withdraw jr-aaaaaaaa extra", "Too many words"),
            ("extend jr-aaaaaaaa 1h", "Missing a reason"),
            ("approve jr-aaaaaaaa", "\"approve\" is not a Janus command"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
        assert!(parse("request prod-eu").unwrap_err().contains(USAGE_REQUEST));
    }
}
