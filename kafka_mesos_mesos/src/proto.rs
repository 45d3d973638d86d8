//! The Mesos v1 protobuf messages: our own subset of Mesos's `.proto` files (in `proto/`), with
//! Mesos's package, message and field names and numbers.
//!
//! The types are generated at build time (see `build.rs`): prost types for the protobuf
//! encoding (`application/x-protobuf`), plus serde impls (pbjson) for Mesos's JSON encoding
//! (`application/json`: proto field names, enums as names, `bytes` as base64, 64-bit integers
//! accepted as numbers or strings).
//!
//! ```
//! use kafka_mesos_mesos::proto::v1::scheduler::{Call, call};
//! use prost::Message as _;
//!
//! let call = Call { r#type: Some(call::Type::Teardown as i32), ..Default::default() };
//! let bytes = call.encode_to_vec();
//! assert_eq!(bytes, [0x10, 0x02]);
//! assert_eq!(Call::decode(&bytes[..]).unwrap().r#type(), call::Type::Teardown);
//! assert_eq!(serde_json::to_string(&call).unwrap(), r#"{"type":"TEARDOWN"}"#);
//! ```

pub mod wire;

/// Package `mesos.v1`: the shared messages (ids, resources, offers, tasks, statuses, ...).
// Generated code (prost types, pbjson serde impls). Most items have no doc comment (only those
// with a comment in the `.proto` get one), and its style is the generators' rather than ours,
// so `missing_docs` and clippy are silenced for this module only.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/mesos.v1.serde.rs"));

    /// Package `mesos.v1.scheduler`: the scheduler API's `Call` and `Event`.
    pub mod scheduler {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.serde.rs"));
    }

    /// Package `mesos.v1.executor`: the executor API's `Call` and `Event`.
    pub mod executor {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.serde.rs"));
    }
}

/// Serde for `Volume.Source.SandboxPath.Type`, written by hand: pbjson would name the variant of
/// `SELF` `Self` (a keyword; prost calls it `Self_`), so `build.rs` excludes this enum from pbjson.
/// Same behaviour as pbjson's enums: serialized as the proto name, deserialized from the name or
/// the number.
mod sandbox_path_type_serde {
    use std::fmt;

    use super::v1::volume::source::sandbox_path::Type;

    impl serde::Serialize for Type {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_str(self.as_str_name())
        }
    }

    impl<'de> serde::Deserialize<'de> for Type {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(TypeVisitor)
        }
    }

    const NAMES: &[&str] = &["UNKNOWN", "SELF", "PARENT"];

    struct TypeVisitor;

    impl serde::de::Visitor<'_> for TypeVisitor {
        type Value = Type;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(formatter, "one of {NAMES:?} or its number")
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Type, E> {
            i32::try_from(v)
                .ok()
                .and_then(|n| Type::try_from(n).ok())
                .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Type, E> {
            i32::try_from(v)
                .ok()
                .and_then(|n| Type::try_from(n).ok())
                .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Type, E> {
            Type::from_str_name(v).ok_or_else(|| E::unknown_variant(v, NAMES))
        }
    }
}

/// Constructors for the resources an agent offers, as its `--resources` flag lists them:
/// unreserved, without a role or allocation.
///
/// ```
/// use kafka_mesos_core::range::Range;
/// use kafka_mesos_mesos::proto::v1;
///
/// let cpus = v1::Resource::scalar("cpus", 4.0);
/// assert_eq!((cpus.r#type(), cpus.scalar.unwrap().value), (v1::value::Type::Scalar, 4.0));
/// let ports = v1::Resource::ranges("ports", [Range::new(31000, 31099).unwrap()]);
/// assert_eq!(ports.r#type(), v1::value::Type::Ranges);
/// assert_eq!(ports.ranges.unwrap().range, [v1::value::Range { begin: 31000, end: 31099 }]);
/// ```
mod resource_constructors {
    use kafka_mesos_core::range::Range;

    use super::v1;

    impl v1::Resource {
        /// The scalar resource `name:value` (`cpus`, `mem`, `disk`).
        pub fn scalar(name: impl Into<String>, value: f64) -> v1::Resource {
            v1::Resource {
                name: name.into(),
                r#type: v1::value::Type::Scalar as i32,
                scalar: Some(v1::value::Scalar { value }),
                ..Default::default()
            }
        }

        /// The ranges resource `name:[ranges]` (`ports`).
        pub fn ranges(
            name: impl Into<String>,
            ranges: impl IntoIterator<Item = Range>,
        ) -> v1::Resource {
            v1::Resource {
                name: name.into(),
                r#type: v1::value::Type::Ranges as i32,
                ranges: Some(ranges.into_iter().collect()),
                ..Default::default()
            }
        }
    }

    /// Mesos's ranges from the domain's, in the same order.
    impl FromIterator<Range> for v1::value::Ranges {
        fn from_iter<I: IntoIterator<Item = Range>>(ranges: I) -> Self {
            v1::value::Ranges {
                range: ranges
                    .into_iter()
                    .map(|r| v1::value::Range {
                        begin: r.start(),
                        end: r.end(),
                    })
                    .collect(),
            }
        }
    }
}
