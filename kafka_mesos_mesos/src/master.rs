//! Where the Mesos master is: `--master` values and leader election data in ZooKeeper.
//!
//! ```
//! use kafka_mesos_mesos::master::MasterAddress;
//! let m: MasterAddress = "master:5050,master2:5050".parse().unwrap();
//! assert_eq!(m.to_string(), "master:5050,master2:5050");
//! let zk: MasterAddress = "zk://user:pass@zk1:2181,zk2:2181/mesos".parse().unwrap();
//! let MasterAddress::ZooKeeper(url) = zk else { unreachable!() };
//! assert_eq!(url.hosts, "zk1:2181,zk2:2181");
//! assert_eq!(url.path, "/mesos");
//! assert_eq!(url.credentials.as_deref(), Some("user:pass"));
//! ```

use std::fmt;
use std::str::FromStr;

/// The port a master listens on when none is given.
pub const DEFAULT_MASTER_PORT: u16 = 5050;

/// A `host:port` endpoint that can be put in a URL as it is: the host is a host name (letters,
/// digits, `-`, `.`, `_`, `~`), an IPv4 address or an IPv6 address (kept without brackets), and
/// the port is not 0. Built only by [`HostPort::new`] or parsing, so a request to it always builds.
///
/// ```
/// use kafka_mesos_mesos::master::HostPort;
/// let v6: HostPort = "[::1]:5050".parse().unwrap();
/// assert_eq!((v6.host(), v6.port()), ("::1", 5050));
/// assert_eq!(v6.to_string(), "[::1]:5050");
/// assert!(HostPort::new("bad host", 5050).is_err());
/// assert!("master".parse::<HostPort>().is_err(), "the port is required");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: String,
    port: u16,
}

/// Why a host and port cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid host:port {input:?}: {problem}; expected a host name (letters, digits, '-', '.', '_', '~'), an IPv4 address or a bracketed IPv6 address, then :port (1-65535)"
)]
pub struct HostPortError {
    /// The value given.
    pub input: String,
    /// What is wrong.
    pub problem: String,
}

impl HostPort {
    /// The endpoint `host:port`; IPv6 addresses are given without brackets.
    pub fn new(host: impl Into<String>, port: u16) -> Result<HostPort, HostPortError> {
        let host = host.into();
        let problem = if port == 0 {
            Some("port 0 is not a port".to_string())
        } else {
            host_problem(&host)
        };
        match problem {
            None => Ok(HostPort { host, port }),
            Some(problem) => Err(HostPortError {
                input: format!("{host}:{port}"),
                problem,
            }),
        }
    }

    /// The host name or address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// What makes `host` unusable in a URL, if anything.
fn host_problem(host: &str) -> Option<String> {
    if host.is_empty() {
        return Some("the host is empty".into());
    }
    if host.contains(':') {
        return match host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => None,
            Err(_) => Some(format!(
                "{host:?} is neither a host name nor an IPv6 address"
            )),
        };
    }
    if host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        None
    } else {
        Some(format!("{host:?} is not a host name"))
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for HostPort {
    type Err = HostPortError;

    /// Reads `host:port` or `[ipv6]:port`; the port is required.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse_host_port(input, None).map_err(|problem| HostPortError {
            input: input.to_string(),
            problem,
        })
    }
}

/// A ZooKeeper URL naming where masters register: `zk://[user:pass@]h1:2181,h2:2181/mesos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// The `user:password` for ZooKeeper's `digest` scheme, if given.
    pub credentials: Option<String>,
    /// The comma-separated `host:port` list, as given.
    pub hosts: String,
    /// The znode under which masters register (`/` when absent).
    pub path: String,
}

impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("zk://")?;
        if let Some(c) = &self.credentials {
            write!(f, "{c}@")?;
        }
        write!(
            f,
            "{}{}",
            self.hosts,
            if self.path == "/" { "" } else { &self.path }
        )
    }
}

/// How to find the leading master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterAddress {
    /// One or more masters, tried in turn; a non-leader redirects to the leader.
    Hosts(Vec<HostPort>),
    /// Masters registered in ZooKeeper; the leader is the oldest registration.
    ZooKeeper(ZkUrl),
}

/// Why a `--master` value is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid master {input:?}: {problem}; expected host:port, host:port,host2:port, zk://host:2181/mesos or zk://user:pass@host:2181,host2:2181/mesos"
)]
pub struct MasterAddressError {
    /// The value given.
    pub input: String,
    /// What is wrong.
    pub problem: String,
}

/// Reads `host[:port]` or `[ipv6][:port]`; without a port, `default_port` (or an error when
/// there is none).
fn parse_host_port(text: &str, default_port: Option<u16>) -> Result<HostPort, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a host is empty".into());
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address is missing its ]")?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("[{host}] is not an IPv6 address"));
        }
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(format!("unexpected {after:?} after [{host}]")),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let port = match (port, default_port) {
        (Some(p), _) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("{p:?} is not a port")),
        },
        (None, Some(default)) => default,
        (None, None) => return Err("the port is missing".into()),
    };
    HostPort::new(host, port).map_err(|e| e.problem)
}

impl FromStr for MasterAddress {
    type Err = MasterAddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |problem: String| MasterAddressError {
            input: input.to_string(),
            problem,
        };
        if let Some(rest) = input.strip_prefix("zk://") {
            let (before_path, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let (credentials, hosts) = match before_path.rsplit_once('@') {
                Some((c, h)) => {
                    if !c.contains(':') {
                        return Err(err(
                            "ZooKeeper credentials are written user:password@".into()
                        ));
                    }
                    (Some(c.to_string()), h)
                }
                None => (None, before_path),
            };
            if hosts.is_empty() {
                return Err(err("no ZooKeeper host is given".into()));
            }
            for h in hosts.split(',') {
                parse_host_port(h, Some(2181)).map_err(err)?;
            }
            let path = if path.len() > 1 {
                path.trim_end_matches('/')
            } else {
                path
            };
            return Ok(MasterAddress::ZooKeeper(ZkUrl {
                credentials,
                hosts: hosts.to_string(),
                path: path.to_string(),
            }));
        }
        let plain = input
            .strip_prefix("http://")
            .unwrap_or(input)
            .trim_end_matches('/');
        if plain.is_empty() {
            return Err(err("it is empty".into()));
        }
        let hosts = plain
            .split(',')
            .map(|h| parse_host_port(h, Some(DEFAULT_MASTER_PORT)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(MasterAddress::Hosts(hosts))
    }
}

impl fmt::Display for MasterAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterAddress::Hosts(hosts) => {
                let parts: Vec<String> = hosts.iter().map(HostPort::to_string).collect();
                f.write_str(&parts.join(","))
            }
            MasterAddress::ZooKeeper(url) => url.fmt(f),
        }
    }
}

/// The leading master's registration among the children of the masters' znode: the one with
/// the smallest sequence number. Children whose name does not end in `_<number>` (such as
/// `log_replicas`) are ignored. Returns the child's name.
pub fn leader_child<'a>(children: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    children
        .into_iter()
        .filter_map(|c| {
            let (_, seq) = c.rsplit_once('_')?;
            if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            seq.parse::<u64>().ok().map(|n| (n, c))
        })
        .min_by_key(|(n, _)| *n)
        .map(|(_, c)| c)
}

/// Why a leader registration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaderInfoError {
    /// The leader registered in a format older masters used (binary `info_` or a UPID).
    #[error(
        "the leading master registered as {0:?}, a format of Mesos before 0.24; only json.info_ registrations are supported"
    )]
    LegacyFormat(String),
    /// The data is not the MasterInfo JSON expected.
    #[error("invalid master registration {child:?}: {problem}")]
    Invalid {
        /// The child's name.
        child: String,
        /// What is wrong.
        problem: String,
    },
}

/// The leader's address from the data of its `json.info_*` child: `address.ip`/`address.port`
/// (the form the Mesos CLI uses), else `hostname` and `port`.
pub fn leader_address(child: &str, data: &[u8]) -> Result<HostPort, LeaderInfoError> {
    if !child.starts_with("json.info_") {
        return Err(LeaderInfoError::LegacyFormat(child.to_string()));
    }
    let invalid = |problem: String| LeaderInfoError::Invalid {
        child: child.to_string(),
        problem,
    };
    let info: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| invalid(e.to_string()))?;
    let port = |v: &serde_json::Value| v.as_u64().and_then(|p| u16::try_from(p).ok());
    if let Some(address) = info.get("address") {
        let host = address
            .get("ip")
            .or_else(|| address.get("hostname"))
            .and_then(|h| h.as_str());
        if let (Some(host), Some(port)) = (host, address.get("port").and_then(port)) {
            return HostPort::new(host, port).map_err(|e| invalid(e.to_string()));
        }
    }
    match (
        info.get("hostname").and_then(|h| h.as_str()),
        info.get("port").and_then(port),
    ) {
        (Some(host), Some(port)) => HostPort::new(host, port).map_err(|e| invalid(e.to_string())),
        _ => Err(invalid(
            "neither address.ip and address.port nor hostname and port are present".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(s: &str) -> Vec<String> {
        match s.parse::<MasterAddress>().unwrap() {
            MasterAddress::Hosts(h) => h.iter().map(HostPort::to_string).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_seed_forms_parse() {
        assert_eq!(hosts("master:5050"), ["master:5050"]);
        assert_eq!(
            hosts("master:5050,master2:5050"),
            ["master:5050", "master2:5050"]
        );
        assert_eq!(hosts("http://127.0.0.1:5050/"), ["127.0.0.1:5050"]);
        assert_eq!(hosts("master"), ["master:5050"]);
        assert_eq!(hosts("[::1]:5051"), ["[::1]:5051"]);
        for (text, hosts, path, creds) in [
            ("zk://master:2181/mesos", "master:2181", "/mesos", None),
            (
                "zk://username:password@master:2181",
                "master:2181",
                "/",
                Some("username:password"),
            ),
            (
                "zk://master:2181,master2:2181/mesos",
                "master:2181,master2:2181",
                "/mesos",
                None,
            ),
            ("zk://a:b@c@h:2181/x/y/", "h:2181", "/x/y", Some("a:b@c")),
        ] {
            let MasterAddress::ZooKeeper(url) = text.parse().unwrap() else {
                panic!("{text}")
            };
            assert_eq!(
                (
                    url.hosts.as_str(),
                    url.path.as_str(),
                    url.credentials.as_deref()
                ),
                (hosts, path, creds),
                "{text}"
            );
        }
        let zk: MasterAddress = "zk://u:p@h1:2181,h2:2181/mesos".parse().unwrap();
        assert_eq!(zk.to_string(), "zk://u:p@h1:2181,h2:2181/mesos");
    }

    #[test]
    fn bad_masters_say_what_is_accepted() {
        for bad in [
            "",
            "host:x",
            "host:0",
            "host:99999",
            "a b:1",
            "zk://",
            "zk:///mesos",
            "zk://nopass@h:1/m",
            "h1,,h2",
            "zk://h:x/m",
            "ma^ster:5050",
            "m\"x:5050",
            "host%41:5050",
            "[zz]:5050",
            "[::1]x",
            "exa\u{7f}mple",
            "zk://h{}:2181/mesos",
        ] {
            let err = bad.parse::<MasterAddress>().unwrap_err().to_string();
            assert!(err.contains("zk://host:2181/mesos"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_leader_is_the_oldest_registration() {
        let children = [
            "json.info_0000000012",
            "log_replicas",
            "json.info_0000000003",
            "json.info_x",
            "info_0000000007",
        ];
        assert_eq!(leader_child(children), Some("json.info_0000000003"));
        assert_eq!(leader_child(["log_replicas"]), None);
        assert_eq!(
            leader_child(["info_0000000001", "json.info_0000000002"]),
            Some("info_0000000001")
        );
    }

    #[test]
    fn leader_addresses_come_from_master_info_json() {
        let data = br#"{"address":{"hostname":"m1.example","ip":"10.0.0.1","port":5050},"hostname":"m1.example","id":"x","ip":16777226,"pid":"master@10.0.0.1:5050","port":5050,"version":"1.12.0"}"#;
        let leader = leader_address("json.info_0000000001", data).unwrap();
        assert_eq!(leader.to_string(), "10.0.0.1:5050");
        let fallback = leader_address("json.info_1", br#"{"hostname":"m2","port":5052}"#).unwrap();
        assert_eq!(fallback.to_string(), "m2:5052");
        assert!(matches!(
            leader_address("info_0000000001", b"\x08\x01"),
            Err(LeaderInfoError::LegacyFormat(_))
        ));
        let err = leader_address("json.info_1", b"{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("address.ip"), "{err}");
        assert!(leader_address("json.info_1", b"not json").is_err());
    }

    #[test]
    fn leader_registrations_with_unusable_hosts_are_invalid() {
        let err = leader_address(
            "json.info_1",
            br#"{"address":{"ip":"10.0.0.1/x","port":5050}}"#,
        )
        .unwrap_err();
        assert!(matches!(err, LeaderInfoError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("not a host name"), "{err}");
        let err = leader_address("json.info_1", br#"{"hostname":"m","port":0}"#).unwrap_err();
        assert!(err.to_string().contains("port 0"), "{err}");
    }

    #[test]
    fn host_ports_are_checked_when_built() {
        assert_eq!(
            HostPort::new("m1.example", 5050).unwrap().to_string(),
            "m1.example:5050"
        );
        assert_eq!(
            HostPort::new("fe80::1", 1).unwrap().to_string(),
            "[fe80::1]:1"
        );
        for (host, port) in [
            ("", 1),
            ("a b", 1),
            ("a/b", 1),
            ("a@b", 1),
            ("h", 0),
            (":::", 1),
        ] {
            let err = HostPort::new(host, port).unwrap_err().to_string();
            assert!(err.contains("expected a host name"), "{host:?}: {err}");
        }
        assert_eq!(
            "h:7".parse::<HostPort>().unwrap(),
            HostPort::new("h", 7).unwrap()
        );
        assert!(
            "h".parse::<HostPort>()
                .unwrap_err()
                .to_string()
                .contains("port is missing")
        );
    }

    proptest::proptest! {
        /// Whatever the text, a host:port that parses prints back to itself and is a valid URI
        /// authority (so requests to it always build).
        #[test]
        fn parsed_host_ports_are_valid_authorities(text in "\\PC{0,30}") {
            if let Ok(h) = text.parse::<HostPort>() {
                let shown = h.to_string();
                proptest::prop_assert_eq!(shown.parse::<HostPort>().unwrap(), h.clone());
                proptest::prop_assert!(shown.parse::<http::uri::Authority>().is_ok(), "{}", shown);
            }
        }

        /// The same for host names made of the accepted characters, and IPv6 addresses.
        #[test]
        fn built_host_ports_are_valid_authorities(
            host in "[a-zA-Z0-9._~-]{1,20}|[0-9a-f:]{2,39}",
            port in 1u16..,
        ) {
            if let Ok(h) = HostPort::new(host.clone(), port) {
                proptest::prop_assert!(h.to_string().parse::<http::uri::Authority>().is_ok(), "{}", h);
                proptest::prop_assert_eq!(h.to_string().parse::<HostPort>().unwrap(), h);
            } else {
                proptest::prop_assert!(host.contains(':'), "{}", host);
            }
        }
    }
}
