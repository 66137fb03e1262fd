//! Compiles `proto/orderstore.proto` into Rust with tonic's build tooling.
//!
//! `protoc` comes from the system (Debian's `protobuf-compiler`, installed by `scripts/setup.sh`)
//! or from `$PROTOC`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/orderstore.proto");
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("orderstore_descriptor.bin"))
        .compile_protos(&["proto/orderstore.proto"], &["proto"])?;
    Ok(())
}
