//! UTC calendar dates of Unix times and back (Howard Hinnant's civil-date
//! algorithms), for partition names and the console's date inputs and labels.

/// (year, month, day) of a Unix time, UTC.
pub fn civil(unix_s: u64) -> (u64, u64, u64) {
    let z = (unix_s / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as u64, m as u64, d as u64)
}

/// Days since the epoch of a date, UTC; none before 1970 or for a month or
/// day out of range.
pub fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = y as i64 - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(951_868_799), (2000, 2, 29));
        for t in [0, 951_868_800, 1_795_688_454, 4_102_444_800] {
            let (y, m, d) = civil(t);
            assert_eq!(days_from_civil(y, m, d), Some(t / 86_400));
        }
        assert_eq!(days_from_civil(2026, 13, 1), None);
    }
}
