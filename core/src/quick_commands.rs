//! Quick commands: shell commands kept per cluster by admins (`/admin/commands`) that anyone in a
//! terminal of that cluster sends with one click. The terminal sends the command's text followed
//! by Enter, as if typed, so a quick command can do nothing the user could not type.
//!
//! What is checked here, once for every caller: a name and a command that are not empty, not too
//! long, and free of control characters (a command is one line; line breaks, tabs, escape
//! sequences and bidirectional overrides that would make the text shown differ from the text run
//! are refused). Whether the cluster exists is the caller's check, against the configuration.
//! The SQL is in `store/quick_commands.rs`.

use chrono::{DateTime, Utc};
use rand::Rng;

/// Longest name, in characters (it labels a button).
pub const MAX_NAME_CHARS: usize = 60;
/// Longest command, in characters.
pub const MAX_COMMAND_CHARS: usize = 1_000;

/// A stored quick command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickCommand {
    /// `qc-` and 10 lower-case base32 characters.
    pub id: String,
    pub cluster: String,
    pub name: String,
    pub command: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// Why a quick command was not saved. Each message is one sentence for the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuickCommandProblem {
    #[error("Give the quick command a name.")]
    EmptyName,
    #[error("Give the quick command a command to run.")]
    EmptyCommand,
    #[error("The name is {given} characters long; keep it to {MAX_NAME_CHARS}.")]
    NameTooLong { given: usize },
    #[error("The command is {given} characters long; keep it to {MAX_COMMAND_CHARS}.")]
    CommandTooLong { given: usize },
    #[error("The name contains a control character ({0}); use printable text only.")]
    ControlInName(String),
    #[error(
        "The command contains a control character ({0}); a quick command is one line of printable text, sent followed by Enter."
    )]
    ControlInCommand(String),
    #[error("Cluster `{0}` is not configured; pick one of the configured clusters.")]
    UnknownCluster(String),
    #[error("Cluster `{cluster}` already has a quick command named `{name}`; choose another name.")]
    DuplicateName { cluster: String, name: String },
    #[error("There is no such quick command; it may have been deleted meanwhile.")]
    NotFound,
}

impl QuickCommandProblem {
    /// A stable code for logs, audit details and JSON errors.
    pub fn code(&self) -> &'static str {
        match self {
            QuickCommandProblem::EmptyName => "empty_name",
            QuickCommandProblem::EmptyCommand => "empty_command",
            QuickCommandProblem::NameTooLong { .. } => "name_too_long",
            QuickCommandProblem::CommandTooLong { .. } => "command_too_long",
            QuickCommandProblem::ControlInName(_) => "control_character_in_name",
            QuickCommandProblem::ControlInCommand(_) => "control_character_in_command",
            QuickCommandProblem::UnknownCluster(_) => "unknown_cluster",
            QuickCommandProblem::DuplicateName { .. } => "duplicate_name",
            QuickCommandProblem::NotFound => "not_found",
        }
    }
}

/// Checks a name and a command as an admin typed them; returns them trimmed.
pub fn check(name: &str, command: &str) -> Result<(String, String), QuickCommandProblem> {
    let name = name.trim();
    let command = command.trim_matches(|c: char| c == ' ');
    if name.is_empty() {
        return Err(QuickCommandProblem::EmptyName);
    }
    if command.trim().is_empty() {
        return Err(QuickCommandProblem::EmptyCommand);
    }
    if let Some(c) = name.chars().find(|c| is_forbidden(*c)) {
        return Err(QuickCommandProblem::ControlInName(describe(c)));
    }
    if let Some(c) = command.chars().find(|c| is_forbidden(*c)) {
        return Err(QuickCommandProblem::ControlInCommand(describe(c)));
    }
    let name_chars = name.chars().count();
    if name_chars > MAX_NAME_CHARS {
        return Err(QuickCommandProblem::NameTooLong { given: name_chars });
    }
    let command_chars = command.chars().count();
    if command_chars > MAX_COMMAND_CHARS {
        return Err(QuickCommandProblem::CommandTooLong { given: command_chars });
    }
    Ok((name.to_owned(), command.to_owned()))
}

/// C0 and C1 controls, DEL, and the bidirectional embedding, override and isolate characters
/// (which make a command read differently from what the shell runs).
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn describe(c: char) -> String {
    match c {
        '\n' => "a line break".to_owned(),
        '\r' => "a carriage return".to_owned(),
        '\t' => "a tab".to_owned(),
        '\u{1b}' => "an escape".to_owned(),
        other => format!("U+{:04X}", u32::from(other)),
    }
}

/// A fresh id: `qc-` and 10 lower-case base32 characters (50 bits; the primary key catches a
/// collision).
pub fn new_id(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let suffix: String = (0..10)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..32)]))
        .collect();
    format!("qc-{suffix}")
}

/// Whether `id` has the shape of a quick command id (anything else is not looked up).
pub fn is_id(id: &str) -> bool {
    id.strip_prefix("qc-").is_some_and(|suffix| {
        suffix.len() == 10
            && suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::{MAX_COMMAND_CHARS, MAX_NAME_CHARS, QuickCommandProblem, check, is_id, new_id};

    #[test]
    fn accepts_and_trims_printable_text() {
        assert_eq!(
            check("  Disk usage ", "  df -h | sort -k5 ").unwrap(),
            ("Disk usage".to_owned(), "df -h | sort -k5".to_owned())
        );
        assert_eq!(
            check("Ünïcode ✓", "echo 'héllo wörld'").unwrap().1,
            "echo 'héllo wörld'"
        );
    }

    #[test]
    fn refuses_empty_parts() {
        assert_eq!(check("  ", "ls"), Err(QuickCommandProblem::EmptyName));
        assert_eq!(check("List", " "), Err(QuickCommandProblem::EmptyCommand));
    }

    #[test]
    fn refuses_control_characters_anywhere() {
        for (command, shown) in [
            ("ls\nrm -rf /", "a line break"),
            ("ls\r", "a carriage return"),
            ("ls\t-l", "a tab"),
            ("echo \u{1b}[31m", "an escape"),
            ("echo \u{7f}", "U+007F"),
            ("echo \u{85}", "U+0085"),
            ("echo \u{202E}txt.exe", "U+202E"),
            ("echo \u{2066}x", "U+2066"),
        ] {
            let problem = check("Name", command).unwrap_err();
            assert_eq!(problem, QuickCommandProblem::ControlInCommand(shown.to_owned()));
            assert!(problem.to_string().contains(shown), "{problem}");
        }
        assert_eq!(
            check("Na\u{0}me", "ls"),
            Err(QuickCommandProblem::ControlInName("U+0000".to_owned()))
        );
    }

    #[test]
    fn refuses_long_text_counting_characters_not_bytes() {
        let name = "é".repeat(MAX_NAME_CHARS);
        assert!(check(&name, "ls").is_ok());
        let longer = format!("{name}x");
        assert_eq!(
            check(&longer, "ls"),
            Err(QuickCommandProblem::NameTooLong {
                given: MAX_NAME_CHARS + 1
            })
        );
        let command = "x".repeat(MAX_COMMAND_CHARS + 1);
        let problem = check("n", &command).unwrap_err();
        assert_eq!(problem.code(), "command_too_long");
        assert_eq!(
            problem.to_string(),
            format!("The command is 1001 characters long; keep it to {MAX_COMMAND_CHARS}.")
        );
    }

    #[test]
    fn ids_round_trip() {
        let mut rng = rand::thread_rng();
        for _ in 0..100 {
            let id = new_id(&mut rng);
            assert!(is_id(&id), "{id}");
        }
        for bad in [
            "",
            "qc-",
            "qc-ABCDEFGHIJ",
            "qc-abcdefghi1",
            "jr-abcdefghij",
            "qc-abcdefghijk",
        ] {
            assert!(!is_id(bad), "{bad}");
        }
    }
}
