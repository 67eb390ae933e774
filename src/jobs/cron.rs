//! Cron schedules: a parsed cron expression (5 fields, or 6 with seconds) in an IANA timezone.
//!
//! Parsing and the calendar arithmetic are croner's; this type is the single source of truth for
//! *when* a job runs: the scheduler arms its timer from [`Schedule::next_after`], and `status`
//! shows the same instant.
//!
//! Day-of-month and day-of-week combine with OR, as in Vixie cron (`0 0 1 * MON` runs on the 1st
//! and on every Monday). Across DST changes croner (3.x) behaves as follows, which the tests pin:
//! - a fixed time that does not exist (spring forward gap) runs once at the first valid wall-clock
//!   time after the gap (`0 30 2 * * *` in Europe/Berlin on 2026-03-29 runs at 03:00 CEST);
//! - a fixed time that exists twice (fall back) runs once, at its first occurrence;
//! - interval patterns (`*/15 * * * *`) skip the times in the gap. In the repeated hour croner's
//!   own search from the first pass jumps over the second pass; [`Schedule::next_after`] also
//!   searches the wall clock in the offset after the change, so interval patterns run in both
//!   passes (as Vixie cron runs wildcard jobs), while fixed times still run once.

use std::fmt;

use chrono::{DateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::{Cron, JobType};

/// Why a cron expression was rejected.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    #[error(
        "cron expression {expression:?} has {found} fields; expected 5 (minute hour day-of-month month day-of-week) or 6 (with seconds first)"
    )]
    FieldCount { expression: String, found: usize },
    #[error(
        "cron expression {expression:?} is invalid: {reason}; fix the expression (e.g. `*/15 * * * *` or `0 30 2 * * *`)"
    )]
    Invalid { expression: String, reason: String },
    #[error(
        "cron expression {expression:?} never matches a date (e.g. 30 February); fix the day and month fields"
    )]
    NeverMatches { expression: String },
}

/// A parsed cron expression in a timezone.
#[derive(Clone)]
pub struct Schedule {
    expression: String,
    timezone: Tz,
    cron: Cron,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("expression", &self.expression)
            .field("timezone", &self.timezone.name())
            .finish()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expression, self.timezone.name())
    }
}

/// How far `next_after` looks past ambiguous (DST fall-back) results before giving up; two
/// candidates are the most a single repeated hour can produce.
const MAX_STALE_CANDIDATES: usize = 8;

impl Schedule {
    /// Parses `expr` (5 fields, or 6 with seconds first) for timezone `tz`.
    ///
    /// Nicknames (`@daily`, `@hourly`, ...) are accepted, as are croner's extensions (`L`, `W`, `#`).
    pub fn parse(expr: &str, tz: Tz) -> Result<Schedule, CronError> {
        let expression = expr.trim().to_string();
        let found = expression.split_whitespace().count();
        let is_nickname = expression.starts_with('@') && found == 1;
        if !is_nickname && !(5..=6).contains(&found) {
            return Err(CronError::FieldCount { expression, found });
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(&expression)
            .map_err(|e| CronError::Invalid {
                expression: expression.clone(),
                reason: e.to_string(),
            })?;
        let schedule = Schedule {
            expression,
            timezone: tz,
            cron,
        };
        // croner accepts patterns such as `0 0 30 2 *` that can never fire; a job that silently
        // never runs is worse than a start-up error. Five years covers every leap-year pattern.
        let probe = Utc::now();
        match schedule.next_after(probe) {
            Some(next) if next - probe < chrono::Duration::days(5 * 366) => Ok(schedule),
            _ => Err(CronError::NeverMatches {
                expression: schedule.expression,
            }),
        }
    }

    /// The first activation strictly after `t`, or `None` if there is none within croner's
    /// search horizon.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // croner keeps the sub-second part of its start time; activations are whole seconds.
        let t = t.with_nanosecond(0).unwrap_or(t);
        let in_zone = first_after(&self.cron, t, self.timezone)?;
        if self.cron.determine_job_type() != JobType::IntervalWildcard {
            return Some(in_zone);
        }
        let offset_at = |at: DateTime<Utc>| {
            self.timezone
                .offset_from_utc_datetime(&at.naive_utc())
                .fix()
        };
        let later_offset = offset_at(in_zone);
        if later_offset == offset_at(t) {
            return Some(in_zone);
        }
        // The offset changes before `in_zone`. If the clock went back, croner searched the
        // wall clock from the first pass and jumped over the repeated hour's second pass: search
        // the wall clock again in the later offset and keep a result that matches in the zone.
        let second_pass = first_after(&self.cron, t, later_offset).filter(|candidate| {
            *candidate < in_zone
                && self
                    .cron
                    .is_time_matching(&candidate.with_timezone(&self.timezone))
                    .unwrap_or(false)
        });
        Some(second_pass.unwrap_or(in_zone))
    }

    /// The next `n` activations after `from`, in order.
    pub fn upcoming(&self, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = from;
        while out.len() < n {
            match self.next_after(cursor) {
                Some(next) => {
                    out.push(next);
                    cursor = next;
                }
                None => break,
            }
        }
        out
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The IANA timezone the expression is evaluated in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }
}

/// The first activation strictly after `t` on the wall clock of `zone`.
fn first_after<Z>(cron: &Cron, t: DateTime<Utc>, zone: Z) -> Option<DateTime<Utc>>
where
    Z: TimeZone + Copy,
{
    // croner's iterator also yields the second pass of a repeated (fall-back) hour. Started
    // inside that second pass it can first yield the earlier pass, so skip anything not
    // strictly after `t`.
    cron.iter_after(t.with_timezone(&zone))
        .take(MAX_STALE_CANDIDATES)
        .map(|local| local.with_timezone(&Utc))
        .find(|candidate| *candidate > t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("valid RFC 3339 time")
    }

    fn utcs(list: &[&str]) -> Vec<DateTime<Utc>> {
        list.iter().map(|s| utc(s)).collect()
    }

    #[test]
    fn five_fields_start_at_second_zero_six_fields_have_seconds() {
        let five = Schedule::parse("30 * * * *", Tz::UTC).expect("5 fields");
        assert_eq!(
            five.next_after(utc("2026-01-01T12:07:10Z")),
            Some(utc("2026-01-01T12:30:00Z")),
            "5 fields: minute 30"
        );
        let six = Schedule::parse("30 * * * * *", Tz::UTC).expect("6 fields");
        assert_eq!(
            six.next_after(utc("2026-01-01T12:07:10Z")),
            Some(utc("2026-01-01T12:07:30Z")),
            "6 fields: second 30"
        );
        let every_second = Schedule::parse("*/1 * * * * *", Tz::UTC).expect("every second");
        assert_eq!(
            every_second.next_after(utc("2026-01-01T12:07:10Z")),
            Some(utc("2026-01-01T12:07:11Z"))
        );
    }

    #[test]
    fn activations_fall_on_whole_seconds() {
        let s = Schedule::parse("*/1 * * * * *", Tz::UTC).expect("valid");
        assert_eq!(
            s.next_after(utc("2026-01-01T12:07:10.718Z")),
            Some(utc("2026-01-01T12:07:11Z"))
        );
        let s = Schedule::parse("*/15 * * * *", Tz::UTC).expect("valid");
        assert_eq!(
            s.next_after(utc("2026-01-01T12:14:59.999Z")),
            Some(utc("2026-01-01T12:15:00Z"))
        );
    }

    #[test]
    fn next_after_is_strictly_after() {
        let s = Schedule::parse("*/15 * * * *", Tz::UTC).expect("valid");
        assert_eq!(
            s.next_after(utc("2026-01-01T12:15:00Z")),
            Some(utc("2026-01-01T12:30:00Z"))
        );
    }

    #[test]
    fn upcoming_lists_the_next_activations_in_the_timezone() {
        // 09:00 on weekdays in New York (EST, UTC-5, in January).
        let s = Schedule::parse("0 9 * * MON-FRI", chrono_tz::America::New_York).expect("valid");
        // 2026-01-02 is a Friday.
        assert_eq!(
            s.upcoming(utc("2026-01-02T15:00:00Z"), 3),
            utcs(&[
                "2026-01-05T14:00:00Z",
                "2026-01-06T14:00:00Z",
                "2026-01-07T14:00:00Z"
            ])
        );
        assert_eq!(s.expression(), "0 9 * * MON-FRI");
        assert_eq!(s.timezone(), chrono_tz::America::New_York);
    }

    #[test]
    fn fixed_time_in_the_spring_gap_runs_at_the_end_of_the_gap() {
        // Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist.
        // croner runs a fixed-time job due in the gap once, at the first valid time after it:
        // 03:00 CEST = 01:00 UTC. The days around it run at 02:30 local time.
        let s = Schedule::parse("0 30 2 * * *", Berlin).expect("valid");
        assert_eq!(
            s.upcoming(utc("2026-03-27T12:00:00Z"), 4),
            utcs(&[
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST (02:30 does not exist)
                "2026-03-30T00:30:00Z", // 02:30 CEST
                "2026-03-31T00:30:00Z",
            ])
        );
    }

    #[test]
    fn fixed_time_in_the_repeated_hour_runs_once() {
        // Europe/Berlin, 2026-10-25: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice.
        // croner runs a fixed-time job once, at the first occurrence (02:30 CEST = 00:30 UTC).
        let s = Schedule::parse("0 30 2 * * *", Berlin).expect("valid");
        assert_eq!(
            s.upcoming(utc("2026-10-23T12:00:00Z"), 3),
            utcs(&[
                "2026-10-24T00:30:00Z", // 02:30 CEST
                "2026-10-25T00:30:00Z", // 02:30 CEST, first pass only
                "2026-10-26T01:30:00Z", // 02:30 CET
            ])
        );
        // Also when asked from inside the second pass.
        assert_eq!(
            s.next_after(utc("2026-10-25T01:10:00Z")),
            Some(utc("2026-10-26T01:30:00Z"))
        );
    }

    #[test]
    fn interval_patterns_run_in_both_passes_of_the_repeated_hour() {
        let s = Schedule::parse("*/30 * * * *", Berlin).expect("valid");
        assert_eq!(
            s.upcoming(utc("2026-10-24T23:50:00Z"), 5),
            utcs(&[
                "2026-10-25T00:00:00Z", // 02:00 CEST
                "2026-10-25T00:30:00Z", // 02:30 CEST
                "2026-10-25T01:00:00Z", // 02:00 CET
                "2026-10-25T01:30:00Z", // 02:30 CET
                "2026-10-25T02:00:00Z", // 03:00 CET
            ])
        );
        // And they skip the times of the spring gap without running twice.
        assert_eq!(
            s.upcoming(utc("2026-03-29T00:10:00Z"), 3),
            utcs(&[
                "2026-03-29T00:30:00Z", // 01:30 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST
                "2026-03-29T01:30:00Z", // 03:30 CEST
            ])
        );
    }

    #[test]
    fn wrong_field_counts_are_rejected() {
        for expr in ["* * * *", "* * * * * * *", "0 0 1 1 * 2026 extra", ""] {
            let err = Schedule::parse(expr, Tz::UTC).expect_err(expr);
            let msg = err.to_string();
            assert!(msg.contains(&format!("{:?}", expr.trim())), "{msg}");
            assert!(msg.contains("expected 5"), "{msg}");
        }
    }

    #[test]
    fn bad_expressions_are_rejected_with_the_expression_named() {
        for expr in [
            "61 * * * *",
            "* 25 * * *",
            "abc * * * *",
            "*/0 * * * *",
            "0 0 32 * *",
            "0 0 * 13 *",
        ] {
            let err = Schedule::parse(expr, Tz::UTC).expect_err(expr);
            assert!(matches!(err, CronError::Invalid { .. }), "{expr}: {err:?}");
            assert!(err.to_string().contains(expr), "{err}");
        }
        let err = Schedule::parse("0 0 30 2 *", Tz::UTC).expect_err("30 February");
        assert!(matches!(err, CronError::NeverMatches { .. }), "{err:?}");
        assert!(err.to_string().contains("0 0 30 2 *"), "{err}");
    }

    #[test]
    fn nicknames_are_accepted() {
        let s = Schedule::parse("@daily", Tz::UTC).expect("@daily");
        assert_eq!(
            s.next_after(utc("2026-01-01T12:00:00Z")),
            Some(utc("2026-01-02T00:00:00Z"))
        );
    }
}
