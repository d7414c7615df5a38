//! Timestamps as Janus keeps them: microsecond precision (what both databases store) and one
//! RFC 3339 form for the wire, the audit chain and SQLite. The database column type lives in
//! `janus_core::time`.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};

/// Drops sub-microsecond precision.
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = at.nanosecond();
    at.with_nanosecond(nanos - nanos % 1_000).unwrap_or(at)
}

/// RFC 3339 with exactly six fractional digits and `Z`, the form used on the wire, in the
/// audit chain's canonical encoding and in SQLite.
pub fn format_rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_fixed_width_so_text_order_is_time_order() {
        let whole = DateTime::from_timestamp(1_893_456_000, 0).unwrap();
        let fraction = DateTime::from_timestamp(1_893_456_000, 500_000_000).unwrap();
        assert_eq!(format_rfc3339(whole), "2030-01-01T00:00:00.000000Z");
        assert!(format_rfc3339(whole) < format_rfc3339(fraction));
        assert_eq!(format_rfc3339(whole).len(), format_rfc3339(fraction).len());
    }

    #[test]
    fn truncation_drops_nanoseconds() {
        let at = DateTime::from_timestamp(10, 123_456_789).unwrap();
        assert_eq!(truncate_to_micros(at).nanosecond(), 123_456_000);
    }
}
