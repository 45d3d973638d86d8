//! Mesos's conventions of text and naming that the embedded master follows.

use std::time::Duration;

/// A duration as stout writes it: the largest unit that fits (`5secs`, `15mins`, `1.5secs`).
pub(crate) fn stout_duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    const UNITS: [(f64, &str); 8] = [
        (604_800e9, "weeks"),
        (86_400e9, "days"),
        (3_600e9, "hrs"),
        (60e9, "mins"),
        (1e9, "secs"),
        (1e6, "ms"),
        (1e3, "us"),
        (1.0, "ns"),
    ];
    for (size, unit) in UNITS {
        if ns >= size {
            return format!("{}{unit}", ns / size);
        }
    }
    "0ns".into()
}
