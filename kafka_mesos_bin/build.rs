//! Link options of the two binaries (`kafka-mesos`, `kafka-mesos-executor`).
//!
//! On Linux with glibc, the binaries are position-independent and the dynamic loader relocates
//! every pointer in their data at start-up: tens of thousands of relative relocations, 24 bytes
//! each in `.rela.dyn` (350 kB in the executor, 730 kB in `kafka-mesos`), all of it read and so
//! resident in every process. `-z pack-relative-relocs` stores them as a bitmap (`.relr.dyn`, a
//! few kB) when the linker supports it: GNU ld 2.38 or later, lld 15 or later, with glibc 2.36 or
//! later. The option is probed with the linker cargo uses, and left out when that linker warns
//! about it or fails, so the build works as before with an older toolchain.
//!
//! A binary linked so needs glibc 2.36 or later where it runs. The executor runs on the Mesos
//! agents: for agents with an older glibc than the host that builds it, build with
//! `KAFKA_MESOS_PACK_RELATIVE_RELOCS=0` to leave the option out.

use std::path::Path;
use std::process::Command;

/// Relative relocations as a bitmap; the binary then needs glibc 2.36 or later to run.
const PACK_RELATIVE_RELOCS: &str = "-Wl,-z,pack-relative-relocs";

/// The environment variable that, set to `0`, leaves the option out.
const OPT_OUT: &str = "KAFKA_MESOS_PACK_RELATIVE_RELOCS";

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo::rerun-if-env-changed={OPT_OUT}");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" || std::env::var(OPT_OUT).is_ok_and(|v| v == "0") {
        return;
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_string());
    if linker_accepts(&linker, Path::new(&out), PACK_RELATIVE_RELOCS) {
        println!("cargo::rustc-link-arg-bins={PACK_RELATIVE_RELOCS}");
    } else {
        println!(
            "cargo::warning=the linker ({linker}) does not pack relative relocations; the binaries will be larger in memory"
        );
    }
}

/// Whether `linker` (a C compiler driver, as rustc calls it) links a program with `option`
/// without an error or a warning (GNU ld only warns about a `-z` option it does not know).
fn linker_accepts(linker: &str, out: &Path, option: &str) -> bool {
    let source = out.join("link_probe.c");
    let program = out.join("link_probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let linked = Command::new(linker)
        .arg(&source)
        .arg("-o")
        .arg(&program)
        .arg(option)
        .output()
        .is_ok_and(|output| output.status.success() && output.stderr.is_empty());
    // Built for this host: the program must also run here (a glibc older than 2.36 refuses a
    // binary with packed relocations).
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    let runs = !native
        || Command::new(&program)
            .output()
            .is_ok_and(|output| output.status.success());
    let _ = std::fs::remove_file(&program);
    linked && runs
}
