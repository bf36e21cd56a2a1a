//! Where meetings are looked up. The binary implements it over its store;
//! signaling and the meeting service only see this trait.

use std::future::Future;
use std::pin::Pin;

use crate::Meeting;

/// A lookup failed for a reason other than "no such meeting".
#[derive(Debug, thiserror::Error)]
#[error("meeting directory unavailable: {0}")]
pub struct DirectoryError(pub String);

/// Boxed future returned by directory lookups.
pub type Lookup<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Meeting>, DirectoryError>> + Send + 'a>>;

/// Read access to the meetings directory.
pub trait Directory: Send + Sync + 'static {
    /// The meeting with this number, if one exists.
    fn find(&self, number: &str) -> Lookup<'_>;
}
