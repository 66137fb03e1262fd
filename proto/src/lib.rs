//! orderstore's protocol buffers, compiled once and shared by `orderd` (the node) and the SDK.
//!
//! # Layout
//! - [`v1`]: the generated messages, clients and servers of `proto/orderstore.proto`.
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptor set, for gRPC server reflection.
//! - [`PROTOCOL_VERSION`], [`PROTOCOL_HEADER`]: the wire-protocol version callers announce.

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("orderstore.v1");
}

/// Encoded `FileDescriptorSet` of `orderstore.proto`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("orderstore_descriptor");

/// Metadata key carrying the wire-protocol version a caller speaks (the SDK and peers send
/// it on every request).
pub const PROTOCOL_HEADER: &str = "orderstore-protocol";

/// The wire-protocol version of this build. Raise it when a change to `orderstore.proto` or
/// to the meaning of a field is not readable by the previous release; nodes accept callers
/// speaking any version up to their own (and callers without the header, taken as version 1),
/// and refuse newer ones with FAILED_PRECONDITION, so a rolling upgrade runs new nodes first
/// and new clients last.
pub const PROTOCOL_VERSION: u32 = 1;
