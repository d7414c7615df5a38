//! The web terminal at central: the wire types shared with the agent (re-exported from
//! [`janus_wire::terminal`]: control messages, close reasons, diagnostics), the asciicast v2
//! recorder and the command line capture for the audit log.

use serde_json::{Value, json};

pub use janus_wire::terminal::{
    ClientControl, CloseReason, ControlError, Diagnostic, DiagnosticCode, MAX_SIZE, ServerControl, VERSION,
    parse_client_control,
};

/// The longest command line kept in the audit log (characters, after escaping).
pub const MAX_COMMAND_LINE: usize = 1024;

/// Records a session as asciicast v2 (header line, then `[time, "o"|"i"|"r", data]` lines),
/// at most `max_bytes`; past that, events are dropped and the recording is marked truncated.
#[derive(Debug, Clone)]
pub struct Recorder {
    text: String,
    max_bytes: usize,
    truncated: bool,
    /// An incomplete UTF-8 sequence at the end of the last output chunk.
    pending_output: Vec<u8>,
    pending_input: Vec<u8>,
}

impl Recorder {
    /// Starts a recording of a `cols`×`rows` terminal begun at `timestamp` (Unix seconds).
    pub fn new(cols: u16, rows: u16, timestamp: i64, title: &str, max_bytes: usize) -> Recorder {
        let header = json!({
            "version": 2,
            "width": cols,
            "height": rows,
            "timestamp": timestamp,
            "title": title,
            "env": {"TERM": "xterm-256color"},
        });
        let mut text = header.to_string();
        text.push('\n');
        Recorder {
            text,
            max_bytes,
            truncated: false,
            pending_output: Vec::new(),
            pending_input: Vec::new(),
        }
    }

    /// Output from the shell at `seconds` after the start.
    pub fn output(&mut self, seconds: f64, bytes: &[u8]) {
        let text = take_utf8(&mut self.pending_output, bytes);
        self.event(seconds, "o", &text);
    }

    /// Input from the user.
    pub fn input(&mut self, seconds: f64, bytes: &[u8]) {
        let text = take_utf8(&mut self.pending_input, bytes);
        self.event(seconds, "i", &text);
    }

    pub fn resize(&mut self, seconds: f64, cols: u16, rows: u16) {
        self.event(seconds, "r", &format!("{cols}x{rows}"));
    }

    fn event(&mut self, seconds: f64, code: &str, data: &str) {
        if data.is_empty() || self.truncated {
            return;
        }
        let line = format!("{}\n", json!([(seconds * 1e6).round() / 1e6, code, data]));
        if self.text.len() + line.len() > self.max_bytes {
            self.truncated = true;
            return;
        }
        self.text.push_str(&line);
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn finish(self) -> (String, bool) {
        (self.text, self.truncated)
    }
}

/// Appends `bytes` to `pending` and returns the longest valid UTF-8 prefix as text (invalid
/// bytes replaced); an incomplete sequence at the end stays pending for the next chunk.
fn take_utf8(pending: &mut Vec<u8>, bytes: &[u8]) -> String {
    pending.extend_from_slice(bytes);
    let mut out = String::new();
    let mut rest: &[u8] = pending;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                rest = &[];
                break;
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match error.error_len() {
                    Some(bad) => {
                        out.push('\u{fffd}');
                        rest = &after[bad..];
                    }
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let keep = rest.to_vec();
    *pending = keep;
    out
}

/// Replays an asciicast v2 recording: the concatenated output (for checks and previews).
pub fn replay_output(cast: &str) -> Option<String> {
    let mut lines = cast.lines();
    let header: Value = serde_json::from_str(lines.next()?).ok()?;
    if header.get("version").and_then(Value::as_u64) != Some(2) {
        return None;
    }
    let mut out = String::new();
    for line in lines {
        let event: Value = serde_json::from_str(line).ok()?;
        if event.get(1).and_then(Value::as_str) == Some("o") {
            out.push_str(event.get(2)?.as_str()?);
        }
    }
    Some(out)
}

/// Captures command lines for the audit log: the bytes the user sent since the last Enter,
/// as they were sent.
///
/// This is deliberately a plain line buffer, not a shell's line editor: a backspace, an
/// arrow key or a tab completion is written down as the escaped control byte it is
/// (`\x7f`, `\e[A`, `\t`), not applied. What the audit shows is therefore exactly what was
/// typed or pasted before Enter, which may differ from what the shell ran (history recall,
/// completion, editing); the session recording holds the shell's side.
#[derive(Debug, Clone, Default)]
pub struct LineCapture {
    line: String,
    truncated: bool,
    /// The previous byte was CR (a CR LF pair ends one line, not two).
    after_cr: bool,
}

impl LineCapture {
    /// Feeds input bytes; returns the lines completed by CR or LF.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let text = String::from_utf8_lossy(bytes);
        for character in text.chars() {
            let after_cr = std::mem::take(&mut self.after_cr);
            match character {
                '\r' => {
                    self.after_cr = true;
                    lines.push(self.take());
                }
                '\n' if after_cr => {}
                '\n' => lines.push(self.take()),
                _ => self.push(character),
            }
        }
        lines.retain(|line| !line.trim().is_empty());
        lines
    }

    fn push(&mut self, character: char) {
        if self.truncated {
            return;
        }
        let escaped = escape_char(character);
        if self.line.chars().count() + escaped.chars().count() > MAX_COMMAND_LINE {
            self.truncated = true;
            self.line.push('…');
            return;
        }
        self.line.push_str(&escaped);
    }

    fn take(&mut self) -> String {
        self.truncated = false;
        std::mem::take(&mut self.line)
    }
}

/// A control character as visible text (`\e`, `\t`, `\x7f`, `\u{9b}`); others unchanged.
fn escape_char(character: char) -> String {
    match character {
        '\u{1b}' => "\\e".to_owned(),
        '\t' => "\\t".to_owned(),
        '\\' => "\\\\".to_owned(),
        c if c.is_control() => {
            let code = u32::from(c);
            if code < 0x100 {
                format!("\\x{code:02x}")
            } else {
                format!("\\u{{{code:x}}}")
            }
        }
        c => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_are_asciicast_v2_and_bounded() {
        let mut recorder = Recorder::new(80, 24, 1_700_000_000, "t", 10_000);
        recorder.input(0.5, b"echo h\xc3");
        recorder.output(0.25, "héllo\r\n".as_bytes());
        // A multi-byte character split across chunks is kept whole.
        recorder.output(0.5, &"ü".as_bytes()[..1]);
        recorder.output(0.75, &"ü".as_bytes()[1..]);
        recorder.resize(1.0, 100, 30);
        let (cast, truncated) = recorder.finish();
        assert!(!truncated);
        let lines: Vec<Value> = cast
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(lines[0]["width"], 80);
        assert_eq!(lines[1], json!([0.5, "i", "echo h"]));
        assert_eq!(lines[2], json!([0.25, "o", "héllo\r\n"]));
        assert_eq!(lines[3], json!([0.75, "o", "ü"]));
        assert_eq!(lines[4], json!([1.0, "r", "100x30"]));
        assert_eq!(replay_output(&cast).unwrap(), "héllo\r\nü");

        let mut small = Recorder::new(80, 24, 0, "t", 200);
        for _ in 0..100 {
            small.output(0.1, b"0123456789");
        }
        assert!(small.truncated());
        assert!(small.len() <= 200);
    }

    #[test]
    fn command_lines_are_what_was_sent_before_enter() {
        let mut capture = LineCapture::default();
        assert!(capture.feed(b"echo hel").is_empty());
        assert_eq!(capture.feed(b"lo\r"), vec!["echo hello"]);
        // No editing semantics: control bytes are written down, escaped.
        assert_eq!(capture.feed(b"ls -\x7fa\x1b[A\r\n"), vec!["ls -\\x7fa\\e[A"]);
        // A pasted JSON object is a line like any other; several lines give several entries.
        assert_eq!(
            capture.feed(b"{\"v\":1,\"type\":\"resize\"}\nid\n\n"),
            vec!["{\"v\":1,\"type\":\"resize\"}", "id"]
        );
        let long = vec![b'x'; MAX_COMMAND_LINE * 2];
        capture.feed(&long);
        let line = capture.feed(b"\r").remove(0);
        assert!(line.ends_with('…'));
        assert_eq!(line.chars().count(), MAX_COMMAND_LINE + 1);
    }
}
