//! The `nodebom.v1` gRPC contract (generated from `proto/nodebom/v1/*.proto`).
