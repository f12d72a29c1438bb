//! containerd client (not implemented yet).
