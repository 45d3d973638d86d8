//! Kafka versions, as read from a distribution's file name (`kafka_2.13-3.7.0.tgz`).

use std::fmt;
use std::str::FromStr;

/// A dotted version, compared part by part (`0.9.0.0 > 0.8.2.0`, `0 < 0.0`, `01.02 == 1.2`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KafkaVersion(pub Vec<u32>);

/// Why a text is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The text is not dotted whole numbers.
    #[error("invalid version {0:?}: expected whole numbers separated by dots, e.g. 3.7.0")]
    Invalid(String),
    /// A distribution file name does not end in `-<version>.tgz`.
    #[error("can't extract a version number from {0:?}: expected a name like kafka_2.13-3.7.0.tgz")]
    NoVersionInName(String),
}

impl KafkaVersion {
    /// The version in a distribution's file name: the text between the last `-` and `.tgz`
    /// (or `.tar.gz`).
    pub fn from_dist_name(name: &str) -> Result<KafkaVersion, VersionError> {
        let err = || VersionError::NoVersionInName(name.to_string());
        let stem = name
            .strip_suffix(".tgz")
            .or_else(|| name.strip_suffix(".tar.gz"))
            .ok_or_else(err)?;
        let (_, version) = stem.rsplit_once('-').ok_or_else(err)?;
        version.parse().map_err(|_| err())
    }
}

impl FromStr for KafkaVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Ok(KafkaVersion(Vec::new()));
        }
        s.split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(VersionError::Invalid(s.to_string()));
                }
                part.parse::<u32>()
                    .map_err(|_| VersionError::Invalid(s.to_string()))
            })
            .collect::<Result<_, _>>()
            .map(KafkaVersion)
    }
}

impl fmt::Display for KafkaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KafkaVersion {
        s.parse().unwrap()
    }

    #[test]
    fn case_57_versions() {
        assert_eq!(v(""), KafkaVersion(vec![]));
        assert_eq!(v("1.2.3.4"), KafkaVersion(vec![1, 2, 3, 4]));
        assert_eq!(v("01.02"), v("1.2"));
        assert!(v("0.9.0.0") > v("0.8.2.0"));
        assert!(v("0") < v("0.0"));
        for bad in [" ", ".", "a", "1..2", "1.x"] {
            assert!(bad.parse::<KafkaVersion>().is_err(), "{bad:?}");
        }
        assert_eq!(v("3.7.0").to_string(), "3.7.0");
    }

    #[test]
    fn versions_come_from_distribution_names() {
        assert_eq!(
            KafkaVersion::from_dist_name("kafka_2.11-1.1.0.tgz").unwrap(),
            v("1.1.0")
        );
        assert_eq!(
            KafkaVersion::from_dist_name("kafka_2.13-3.7.0.tar.gz").unwrap(),
            v("3.7.0")
        );
        let err = KafkaVersion::from_dist_name("kafka.tgz")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kafka_2.13-3.7.0.tgz"), "{err}");
        assert!(KafkaVersion::from_dist_name("kafka_2.13-3.7.0.zip").is_err());
    }
}
