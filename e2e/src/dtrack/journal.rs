//! What the server saw: every request, and every way a request (or the server's own
//! answer) strayed from Dependency-Track's OpenAPI document.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

/// A request or response that does not match Dependency-Track's OpenAPI document, or an
/// operation the test server does not implement. Tests assert there are none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub method: String,
    /// The request path as sent, e.g. `/api/v1/project/lookup`.
    pub path: String,
    /// The `operationId` of the matched operation, when the path and method exist.
    pub operation: Option<String>,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(operation) = &self.operation {
            write!(f, " ({operation})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One request the server answered (including those answered by an injected fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub operation: Option<String>,
    pub status: u16,
    /// Whether an injected fault decided (status) or delayed the answer.
    pub faulted: bool,
    pub at: SystemTime,
}

/// Append-only logs shared by the request handlers and the test.
#[derive(Default)]
pub(crate) struct Journal {
    violations: Mutex<Vec<Violation>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl Journal {
    pub(crate) fn violation(&self, violation: Violation) {
        lock(&self.violations).push(violation);
    }

    pub(crate) fn request(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
    }

    pub(crate) fn violations(&self) -> Vec<Violation> {
        lock(&self.violations).clone()
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }
}

/// Locks `mutex`, ignoring poisoning: a test that panicked while holding a lock has
/// already failed, and the data stays usable for its report.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
