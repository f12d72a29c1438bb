//! Per-layer analysis, the layer cache and the bottom-up merge (not implemented yet).
