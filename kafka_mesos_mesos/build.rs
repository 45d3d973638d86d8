//! Generates the Rust types of our Mesos `.proto` subset (`proto/mesos/v1/...`).
//!
//! No system `protoc` is needed: `protox` (a protobuf compiler written in Rust) parses the files
//! into a `FileDescriptorSet`, `prost-build` turns it into the prost message types, and
//! `pbjson-build` adds serde `Serialize`/`Deserialize` impls that write JSON the way Mesos does:
//! field names as in the `.proto` (snake_case), enums as their names, `bytes` as base64.
//! The output goes to `OUT_DIR` (`mesos.v1.rs`, `mesos.v1.serde.rs`, and the same for
//! `mesos.v1.scheduler` and `mesos.v1.executor`); `src/proto.rs` includes it.

use std::path::PathBuf;

use prost::Message as _;

/// The `.proto` files, relative to the `proto/` include directory.
const PROTO_FILES: [&str; 3] = [
    "mesos/v1/mesos.proto",
    "mesos/v1/scheduler/scheduler.proto",
    "mesos/v1/executor/executor.proto",
];

/// The enum `Volume.Source.SandboxPath.Type` (`UNKNOWN`, `SELF`, `PARENT`).
const SANDBOX_PATH_TYPE: &str = ".mesos.v1.Volume.Source.SandboxPath.Type";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    // A directory makes Cargo rerun the script when anything under it changes.
    println!("cargo:rerun-if-changed={}", proto_dir.display());

    let fds = protox::compile(PROTO_FILES, [&proto_dir])?;
    let descriptor_bytes = fds.encode_to_vec();

    prost_build::Config::new()
        // Maps (`FrameworkInfo.offer_filters`, `TaskInfo.limits`, ...) as BTreeMap: the encoding
        // is then deterministic (sorted by key) instead of following HashMap order.
        .btree_map(["."])
        .compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        // Mesos's JSON uses the proto field names, not lowerCamelCase.
        .preserve_proto_field_names()
        // The subset leaves some Mesos fields out; in JSON mode they are skipped like prost
        // skips unknown fields in protobuf mode, instead of failing the whole message.
        .ignore_unknown_fields()
        .btree_map(["."])
        // pbjson names the variant of `SELF` `Self`, which does not compile (prost names it
        // `Self_`); `src/proto.rs` implements serde for this one enum by hand.
        .exclude([SANDBOX_PATH_TYPE])
        .build(&[".mesos"])?;

    Ok(())
}
