//! orderstore's protocol buffers, compiled once and shared by `orderd` (the node) and the SDK.
//!
//! # Layout
//! - [`v1`]: the generated messages, clients and servers of `proto/orderstore.proto`.
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptor set, for gRPC server reflection.

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("orderstore.v1");
}

/// Encoded `FileDescriptorSet` of `orderstore.proto`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("orderstore_descriptor");
