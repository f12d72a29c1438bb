//! The collector's one error type, and what each case means to a gRPC client.

/// Everything that can go wrong in the collector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is malformed; `field` is its path in the request.
    #[error("{field}: {reason}")]
    InvalidArgument {
        /// Path of the field, e.g. `inventory.images[3].manifest_digest`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An uploaded SBOM is not a CycloneDX JSON document, or does not match its header.
    #[error("SBOM rejected: {0}")]
    InvalidSbom(String),
    /// The caller did not present a valid token.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's token does not allow what it asked for.
    #[error("{0}")]
    PermissionDenied(String),
    /// The request is valid but not in the current state (wrong order, not this node's).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A configured limit was exceeded.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A resumed event stream asked for events that were already pruned.
    #[error("{0}")]
    OutOfRange(String),
    /// A newer session of the same node replaced this one.
    #[error("session {session} of node {node} was replaced by a newer session of the node")]
    Superseded {
        /// `cluster/node`.
        node: String,
        /// The replaced session.
        session: u64,
    },
    /// The collector is shutting down.
    #[error("the collector is shutting down")]
    ShuttingDown,
    /// The database failed.
    #[error("database: {context}")]
    Database {
        /// What the collector was doing.
        context: String,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL failed or could not be reached.
    #[error("PostgreSQL: {context}")]
    Postgres {
        /// What the collector was doing.
        context: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No PostgreSQL connection could be had in time (the database is down or every
    /// connection of the pool is busy).
    #[error("PostgreSQL: {context}")]
    StoreUnavailable {
        /// What the collector was doing.
        context: String,
        /// The pool's error.
        #[source]
        source: deadpool_postgres::PoolError,
    },
    /// Stored data does not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A file could not be read or written.
    #[error("{context}")]
    Io {
        /// What the collector was doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Something that should not happen did (a panicked or stopped worker).
    #[error("internal error: {0}")]
    Internal(String),
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The gRPC server or a client connection failed.
    #[error("gRPC transport")]
    Transport(#[from] tonic::transport::Error),
    /// A gRPC call made by the query CLI failed.
    #[error("{}: {}", .0.code(), .0.message())]
    Rpc(#[from] tonic::Status),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidArgument`] for the field at `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Wraps a database error with what the collector was doing.
    pub fn database(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Self {
        let context = context.into();
        move |source| Self::Database { context, source }
    }

    /// Wraps a PostgreSQL error with what the collector was doing.
    pub fn postgres(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Self {
        let context = context.into();
        move |source| Self::Postgres { context, source }
    }

    /// Wraps an I/O error with what the collector was doing.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

/// `text` with each NUL replaced by U+FFFD: untrusted text that every store can keep
/// (PostgreSQL's text type cannot hold NUL).
pub(crate) fn without_nul(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// At most `max` characters of `text`, for echoing untrusted input in messages.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
