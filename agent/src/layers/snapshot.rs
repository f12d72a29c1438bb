//! Committed overlayfs snapshot directories (not implemented yet).
