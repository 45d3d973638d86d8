//! What the executor reports about its broker every little while, as a framework message
//! ([`BrokerStats`]): how long the process has run, its resident memory, and whether the broker
//! port accepts connections.

use std::net::SocketAddr;
use std::time::Duration;

use kafka_mesos_core::scheduler::BrokerStats;

/// How often a running broker's stats are sent.
pub const STATS_EVERY: Duration = Duration::from_secs(10);

/// The resident memory of process `pid` in bytes, from `/proc/<pid>/status` (`VmRSS`).
pub fn resident_memory(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    resident_memory_of(&status)
}

/// `VmRSS:   1234 kB` of a `/proc/<pid>/status` text, in bytes.
pub fn resident_memory_of(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The broker's stats now: it has run for `uptime`, its process is `pid`, it listens at
/// `probe`.
pub async fn measure(pid: i32, probe: SocketAddr, uptime: Duration) -> BrokerStats {
    let connect = tokio::net::TcpStream::connect(probe);
    let port_open = matches!(
        tokio::time::timeout(Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    );
    BrokerStats {
        uptime_ms: u64::try_from(uptime.as_millis()).unwrap_or(u64::MAX),
        rss_bytes: resident_memory(pid),
        port_open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_the_status_text() {
        let status = "Name:\tpython3\nVmPeak:\t  20000 kB\nVmRSS:\t   1536 kB\nThreads:\t1\n";
        assert_eq!(resident_memory_of(status), Some(1536 * 1024));
        assert_eq!(resident_memory_of("Name:\tx\n"), None);
        assert!(resident_memory(std::process::id() as i32).is_some_and(|r| r > 0));
    }

    #[tokio::test]
    async fn an_open_port_and_a_closed_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let stats = measure(std::process::id() as i32, open, Duration::from_millis(1500)).await;
        assert_eq!((stats.uptime_ms, stats.port_open), (1500, true));
        drop(listener);
        let closed = measure(std::process::id() as i32, open, Duration::ZERO).await;
        assert!(!closed.port_open);
    }
}
