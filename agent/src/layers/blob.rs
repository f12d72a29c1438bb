//! Layer blobs: gzip, zstd or plain tar (not implemented yet).
