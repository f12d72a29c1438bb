//! One scan: resolve, read layers, merge, assemble (not implemented yet).
