//! CycloneDX assembly and purls (not implemented yet).
