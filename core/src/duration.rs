//! Durations as people type them: `90m`, `2h`, `3600`, `1h30m`, `1d`.
//!
//! One parser for every channel (CLI, chat commands, dashboard forms), so `--ttl 2h` and
//! `/janus request prod-eu payments 2h …` mean the same. A bare number is seconds. Units:
//! `s`, `m`, `h`, `d` (also `sec`/`min`/`hr`, singular or plural). Parts add up (`1h30m` = 5 400 s);
//! upper case and spaces between parts are accepted. The result is whole seconds; zero is refused.
//! Bounds (a TTL's minimum and maximum) are the domain's to check, not this parser's.

/// Why a duration could not be read. Each message says what form is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration; write it like 90m, 2h, 1h30m or 3600 (seconds).")]
    Invalid(String),
    #[error("A duration must be longer than zero.")]
    Zero,
    #[error("`{0}` is too long a duration.")]
    TooLong(String),
}

/// Parses `text` into whole seconds. See the module documentation for the accepted forms.
pub fn parse_duration(text: &str) -> Result<u64, DurationError> {
    let shown: String = text.trim().chars().take(40).collect();
    let invalid = || DurationError::Invalid(shown.clone());
    let compact: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    if compact.is_empty() {
        return Err(invalid());
    }
    if compact.bytes().all(|byte| byte.is_ascii_digit()) {
        let seconds: u64 = compact
            .parse()
            .map_err(|_| DurationError::TooLong(shown.clone()))?;
        return if seconds == 0 {
            Err(DurationError::Zero)
        } else {
            Ok(seconds)
        };
    }
    let mut total: u64 = 0;
    let mut rest = compact.as_str();
    while !rest.is_empty() {
        let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(invalid());
        }
        let (digits, after) = rest.split_at(digits_end);
        let unit_end = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale: u64 = match unit {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(invalid()),
        };
        let value: u64 = digits
            .parse()
            .map_err(|_| DurationError::TooLong(shown.clone()))?;
        total = value
            .checked_mul(scale)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| DurationError::TooLong(shown.clone()))?;
        rest = next;
    }
    if total == 0 {
        Err(DurationError::Zero)
    } else {
        Ok(total)
    }
}

/// Formats seconds the way people read them: `2h`, `1h30m`, `45m`, `90s`.
pub fn format_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_owned();
    }
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    );
    let mut out = String::new();
    for (value, unit) in [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_forms_parse() {
        for (text, seconds) in [
            ("3600", 3_600),
            ("90m", 5_400),
            ("2h", 7_200),
            ("1h30m", 5_400),
            ("1h 30m", 5_400),
            (" 2H ", 7_200),
            ("45s", 45),
            ("1d", 86_400),
            ("10 minutes", 600),
            ("1hr", 3_600),
        ] {
            assert_eq!(parse_duration(text), Ok(seconds), "{text}");
        }
    }

    #[test]
    fn nonsense_is_refused_with_a_sentence() {
        for text in ["", "h", "2x", "-5m", "1.5h", "m30", "2h-", "1e3"] {
            let error = parse_duration(text).unwrap_err();
            assert!(error.to_string().contains("90m"), "{text}: {error}");
        }
        assert_eq!(parse_duration("0"), Err(DurationError::Zero));
        assert_eq!(parse_duration("0m"), Err(DurationError::Zero));
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999d"),
            Err(DurationError::TooLong(_))
        ));
    }

    #[test]
    fn formatting_round_trips() {
        for seconds in [45, 600, 3_600, 5_400, 7_200, 86_400, 90_061] {
            assert_eq!(parse_duration(&format_duration(seconds)), Ok(seconds));
        }
        assert_eq!(format_duration(5_400), "1h30m");
    }
}
