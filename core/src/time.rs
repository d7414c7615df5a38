//! Timestamps as Janus stores them.
//!
//! PostgreSQL keeps microseconds, SQLite whatever text it is given, so every timestamp is
//! truncated to microseconds before it is stored or compared ([`truncate_to_micros`]).
//! [`Timestamp`] is the column type: `TIMESTAMPTZ` on PostgreSQL and a fixed-width UTC
//! text (`2030-01-01T00:00:00.000000Z`) on SQLite, so `<`/`>` in SQL compare correctly
//! on both backends.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};

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

/// A database timestamp column. See the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Timestamp(truncate_to_micros(at))
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(format_rfc3339(self.0), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: <Sqlite as Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
        Ok(Timestamp(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc)))
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl<'q> Encode<'q, Postgres> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <DateTime<Utc> as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: <Postgres as Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Timestamp(<DateTime<Utc> as Decode<'r, Postgres>>::decode(value)?))
    }
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
