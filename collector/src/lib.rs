//! nodebom collector.
