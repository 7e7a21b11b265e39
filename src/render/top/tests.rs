//! The model's unit tests: formatting and ordering.

use super::*;

#[test]
fn clock_is_utc_time_of_day() {
    assert_eq!(clock(0), "00:00:00");
    assert_eq!(clock(86_400 + 3661), "01:01:01");
}

#[test]
fn durations_read_as_people_say_them() {
    assert_eq!(duration(None), "-");
    assert_eq!(duration(Some(f64::NAN)), "-");
    assert_eq!(duration(Some(44.6)), "45s");
    assert_eq!(duration(Some(200.0)), "3m20s");
    assert_eq!(duration(Some(7500.0)), "2h05m");
}

#[test]
fn bars_fill_with_the_ratio() {
    assert_eq!(bar(0.0, 10), "..........");
    assert_eq!(bar(0.5, 10), "#####.....");
    assert_eq!(bar(2.0, 4), "####");
    assert_eq!(bar(f64::INFINITY, 4), "####");
}
