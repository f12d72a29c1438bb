//! What the collector reads from outside for Dependency-Track: DT's JSON answers and the
//! CISA KEV catalog.
//!
//! Input: one byte choosing the document, then the document.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nodebom_collector::dtrack::client::{PolicyView, ProjectView};
use nodebom_collector::dtrack::policy::KevCatalog;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, document)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => drop(KevCatalog::parse(document)),
        // `GET /project/lookup`.
        1 => drop(serde_json::from_slice::<ProjectView>(document)),
        // `GET /policy` (one page).
        2 => drop(serde_json::from_slice::<Vec<PolicyView>>(document)),
        // `PUT /policy`.
        _ => drop(serde_json::from_slice::<PolicyView>(document)),
    }
});
