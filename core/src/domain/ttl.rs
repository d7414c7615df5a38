//! TTLs as people type them (`90m`, `2h`, `1h30m`, `3600`) and as Janus shows them.

/// Parses a TTL: plain seconds, or one or more `<number><unit>` parts with units `s`, `m`,
/// `h`, `d` (`1h30m`). Bounds are the domain's business; this only reads the number.
pub fn parse_ttl(raw: &str) -> Result<u64, String> {
    let text = raw.trim().to_ascii_lowercase();
    let problem = || format!("\"{raw}\" is not a duration; write it like 90m, 2h or 3600 (seconds).");
    if text.is_empty() {
        return Err(problem());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| problem());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(problem()),
        };
        let value: u64 = digits.parse().map_err(|_| problem())?;
        digits.clear();
        total = value
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(problem)?;
    }
    if !digits.is_empty() {
        return Err(problem());
    }
    Ok(total)
}

/// Shows a TTL the short way: `2h`, `90m`, `1h 30m`, `45s`.
pub fn format_ttl(seconds: u64) -> String {
    let (hours, minutes, secs) = (seconds / 3_600, seconds % 3_600 / 60, seconds % 60);
    let mut parts = Vec::new();
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if secs > 0 || parts.is_empty() {
        parts.push(format!("{secs}s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_people_type() {
        assert_eq!(parse_ttl("3600"), Ok(3_600));
        assert_eq!(parse_ttl("90m"), Ok(5_400));
        assert_eq!(parse_ttl("2h"), Ok(7_200));
        assert_eq!(parse_ttl(" 1h30m "), Ok(5_400));
        assert_eq!(parse_ttl("1D"), Ok(86_400));
    }

    #[test]
    fn refuses_everything_else_with_the_expected_form() {
        for raw in ["", "h", "2x", "1.5h", "-5m", "2h30", "99999999999999999999999h"] {
            let error = parse_ttl(raw).unwrap_err();
            assert!(error.contains("90m, 2h or 3600"), "{raw}: {error}");
        }
    }

    #[test]
    fn shows_ttls_short() {
        assert_eq!(format_ttl(7_200), "2h");
        assert_eq!(format_ttl(5_400), "1h 30m");
        assert_eq!(format_ttl(600), "10m");
        assert_eq!(format_ttl(0), "0s");
    }
}
