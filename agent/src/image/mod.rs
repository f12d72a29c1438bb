//! Image resolution: index → platform manifest → config → diffIDs (not implemented yet).
