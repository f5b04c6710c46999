//! Hashing several blobs at once: work over blobs on several threads, largest first, so that
//! one big blob started last does not leave the other threads idle at the end. Verify and
//! unpack hash an archive's blobs this way; push and pull move and hash registry blobs this
//! way.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `job(i)` for every `i` in `0..sizes.len()` on up to `threads` threads, in order of
/// decreasing `sizes[i]`. Once a job fails no new one starts. Returns the results in index
/// order; a job that never started (after a failure) has `None`.
pub fn largest_first<T, E>(
    sizes: &[u64],
    threads: usize,
    job: impl Fn(usize) -> Result<T, E> + Sync,
) -> Vec<Option<Result<T, E>>>
where
    T: Send,
    E: Send,
{
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<T, E>>>> =
        Mutex::new((0..sizes.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(sizes.len()) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = order.get(k) else { return };
                    let result = job(i);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().expect("no thread panics holding it")[i] = Some(result);
                }
            });
        }
    });
    results.into_inner().expect("no thread panicked")
}

/// The results of [`largest_first`] in index order, or the first failure in index order (so
/// that which error is reported does not depend on timing).
///
/// # Errors
///
/// The first failed job's error.
pub fn all_or_first_error<T, E>(results: Vec<Option<Result<T, E>>>) -> Result<Vec<T>, E> {
    let mut out = Vec::with_capacity(results.len());
    let mut skipped = false;
    for result in results {
        match result {
            Some(Ok(value)) => out.push(value),
            Some(Err(e)) => return Err(e),
            None => skipped = true,
        }
    }
    assert!(!skipped, "a job is skipped only after another failed");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_largest_first_on_one_thread() {
        let started = Mutex::new(Vec::new());
        let results = largest_first(&[5, 50, 1, 20], 1, |i| {
            started.lock().unwrap().push(i);
            Ok::<_, ()>(i * 10)
        });
        assert_eq!(started.into_inner().unwrap(), [1, 3, 0, 2]);
        assert_eq!(all_or_first_error(results), Ok(vec![0, 10, 20, 30]));
    }

    #[test]
    fn a_failure_stops_new_jobs_and_is_reported() {
        let results = largest_first(&[4, 3, 2, 1], 1, |i| if i == 1 { Err(i) } else { Ok(i) });
        assert_eq!(results.iter().filter(|r| r.is_none()).count(), 2);
        assert_eq!(all_or_first_error(results), Err(1));
        assert_eq!(
            all_or_first_error::<u8, u8>(largest_first(&[], 4, |_| Ok(0))),
            Ok(vec![])
        );
    }
}
