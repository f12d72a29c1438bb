//! Test harness: private containerd daemon and OCI images built from fixture trees.
