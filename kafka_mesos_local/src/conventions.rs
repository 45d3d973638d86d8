//! Mesos's conventions of text and naming that the embedded master follows: agents' process
//! ids (`slave(N)`) and stout's durations. (Content types live with the HTTP codec,
//! `server::codec`; scalars' three decimals with the resources, `master::resources`.)

use std::time::Duration;

/// Agent `index`'s libprocess id, `slave(N)` with N counting from 1: the path prefix of its
/// API (`/slave(1)/api/v1/executor`) and the name in `MESOS_SLAVE_PID` (`slave(1)@host:port`).
pub(crate) fn agent_process_id(index: usize) -> String {
    format!("slave({})", index + 1)
}

/// The agent index that a path starting with `/slave(N)` names, and the rest of the path.
pub(crate) fn agent_of_path(path: &str) -> Option<(usize, &str)> {
    let (n, rest) = path.strip_prefix("/slave(")?.split_once(')')?;
    let index = n.parse::<usize>().ok()?.checked_sub(1)?;
    Some((index, rest))
}

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
