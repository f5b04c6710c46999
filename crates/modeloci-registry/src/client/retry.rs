//! The one retry policy: what is worth trying again, how long to wait, and how many tries a
//! transfer gets. The counts and waits come from [`ClientOptions`](super::ClientOptions)
//! (`retries`, `backoff`); the few fixed bounds below are the same for every transfer.

use std::time::Duration;

use modeloci_spec::Descriptor;

use super::Client;
use crate::Result;

/// Every transfer of a blob gets at least this many tries in all.
const MIN_ATTEMPTS: u32 = 8;

/// And one more try per this many bytes of the blob (64 MiB).
const BYTES_PER_ATTEMPT: u32 = 26;

/// Rounds of a chunked upload in a row that bring the registry no further, after which it
/// is taken to be lying.
const STALLED_ROUNDS: u32 = 3;

/// A round must move an upload on by this much (or all that was sent) to count.
const MIN_ADVANCE: u64 = 1 << 20;

impl Client {
    /// How many times a failed request is tried again.
    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// The wait before retry number `attempt` (from 1): the backoff, doubled each time.
    pub(crate) fn backoff_delay(&self, attempt: u32) -> Duration {
        self.backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(10))
    }

    /// The most tries for a transfer of `size` bytes: at least [`MIN_ATTEMPTS`], more for
    /// large blobs (one per 64 MiB), and never fewer than the retries allow.
    pub(crate) fn max_attempts(&self, size: u64) -> u32 {
        let per_size = u32::try_from(size >> BYTES_PER_ATTEMPT).unwrap_or(u32::MAX);
        per_size
            .max(MIN_ATTEMPTS)
            .max(self.retries.saturating_add(1))
    }
}

/// Whether an answer with this status may come out differently next time.
pub(super) fn transient_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Whether a transport error may not happen next time.
pub(super) fn transient_error(e: &ureq::Error) -> bool {
    // A failed handshake fails the same way again, and so does a body whose bytes are
    // wrong (`InvalidData`: a copy's source that does not match its digest).
    super::tls::failure(e).is_none()
        && match e {
            ureq::Error::Io(io) => io.kind() != std::io::ErrorKind::InvalidData,
            ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
            _ => false,
        }
}

/// The tries of one resumable transfer. Only tries that brought it no further count against
/// the retries; all of them together count against an optional cap.
#[derive(Debug)]
pub(crate) struct Tries<'c> {
    client: &'c Client,
    cap: Option<u32>,
    attempts: u32,
    idle: u32,
}

impl<'c> Tries<'c> {
    /// Tries without a cap on their number.
    pub(crate) fn new(client: &'c Client) -> Self {
        Self {
            client,
            cap: None,
            attempts: 0,
            idle: 0,
        }
    }

    /// Tries of a transfer of `size` bytes, capped at [`Client::max_attempts`].
    pub(crate) fn capped(client: &'c Client, size: u64) -> Self {
        Self {
            cap: Some(client.max_attempts(size)),
            ..Self::new(client)
        }
    }

    /// A try went through: the failures before it no longer count.
    pub(crate) fn succeeded(&mut self) {
        self.idle = 0;
    }

    /// A try failed, after bringing the transfer further (`progressed`) or not. Returns the
    /// wait before the next try, or `None` when the tries are spent.
    pub(crate) fn failed(&mut self, progressed: bool) -> Option<Duration> {
        self.attempts += 1;
        if progressed {
            self.idle = 0;
        } else {
            self.idle += 1;
        }
        let capped = self.cap.is_some_and(|cap| self.attempts >= cap);
        if self.idle > self.client.retries() || capped {
            return None;
        }
        Some(self.client.backoff_delay(self.idle.max(1)))
    }

    /// The tries that failed so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// Rounds of a chunked upload that brought the registry no further: after
/// [`STALLED_ROUNDS`] in a row, the registry is taken to be lying.
#[derive(Debug, Default)]
pub(crate) struct Advance {
    /// The furthest offset the registry confirmed.
    furthest: u64,
    /// Rounds in a row that did not move it on.
    idle: u32,
}

impl Advance {
    /// A round sent `sent` bytes of `blob` and the registry then confirmed `confirmed`;
    /// `what` says how, for the message.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`](crate::Error::Protocol) after too many rounds in a row without
    /// progress.
    pub(crate) fn round(
        &mut self,
        client: &Client,
        blob: &Descriptor,
        confirmed: u64,
        sent: u64,
        what: &str,
    ) -> Result<()> {
        let advance = confirmed.saturating_sub(self.furthest);
        let moved = advance > 0 && (advance >= sent.min(MIN_ADVANCE) || confirmed == blob.size);
        self.furthest = self.furthest.max(confirmed);
        if moved {
            self.idle = 0;
            return Ok(());
        }
        self.idle += 1;
        if self.idle >= STALLED_ROUNDS {
            return Err(client.protocol(format!(
                "uploading blob {}: the upload made no progress in {} rounds; last, {what}",
                blob.digest, self.idle
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::ClientOptions;
    use super::*;

    fn client(retries: u32) -> Client {
        Client::new(
            "localhost",
            ClientOptions::default()
                .with_backoff(Duration::from_millis(100))
                .with_retries(retries),
        )
    }

    #[test]
    fn backoff_doubles_without_overflow() {
        let c = client(100);
        assert_eq!(c.backoff_delay(1), Duration::from_millis(100));
        assert_eq!(c.backoff_delay(3), Duration::from_millis(400));
        assert_eq!(c.backoff_delay(99), Duration::from_millis(100 << 10));
    }

    #[test]
    fn attempts_grow_with_size_and_retries() {
        assert_eq!(client(4).max_attempts(0), 8);
        assert_eq!(client(4).max_attempts(10 << 26), 10);
        assert_eq!(client(20).max_attempts(0), 21);
    }

    #[test]
    fn only_tries_without_progress_count_against_the_retries() {
        let c = client(2);
        let mut tries = Tries::new(&c);
        assert_eq!(tries.failed(false), Some(Duration::from_millis(100)));
        assert_eq!(tries.failed(false), Some(Duration::from_millis(200)));
        tries.succeeded();
        assert_eq!(tries.failed(false), Some(Duration::from_millis(100)));
        assert_eq!(tries.failed(true), Some(Duration::from_millis(100)));
        assert!(tries.failed(false).is_some());
        assert!(tries.failed(false).is_some());
        assert_eq!(tries.failed(false), None);

        let mut capped = Tries::capped(&c, 0);
        for _ in 0..7 {
            assert!(capped.failed(true).is_some());
        }
        assert_eq!(capped.failed(true), None);
        assert_eq!(capped.attempts(), 8);
    }
}
