//! Single-flight: one piece of work per key however many requests ask for it at once, and its
//! result kept a little while for requests that still carry the old cookie.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// How long a result is handed to late askers, seconds. Also the retry backoff after a failure.
const KEEP_SECS: i64 = 30;

pub(super) struct Flights<T> {
    flights: Mutex<HashMap<String, Arc<Flight<T>>>>,
}

struct Flight<T> {
    result: OnceCell<T>,
    started_at: i64,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Flights<T> {
    /// The result of `work` for `key`: run here if no flight for `key` is running or recently
    /// done, else the other flight's result (waiting for it). If the request running the work
    /// goes away, a waiting one takes over. The flag says whether the work ran in this call.
    pub(super) async fn run<F, Fut>(&self, key: &str, now: i64, work: F) -> (T, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let flight = {
            let mut flights = match self.flights.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            flights.retain(|_, f| now.saturating_sub(f.started_at) <= KEEP_SECS);
            flights
                .entry(key.to_owned())
                .or_insert_with(|| {
                    Arc::new(Flight {
                        result: OnceCell::new(),
                        started_at: now,
                    })
                })
                .clone()
        };
        let mut ran = false;
        let result = flight
            .result
            .get_or_init(|| {
                ran = true;
                work()
            })
            .await
            .clone();
        (result, ran)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn twenty_concurrent_askers_share_one_run() {
        let flights = Arc::new(Flights::<usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (flights, runs) = (flights.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run("s1", 1000, || async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 7
                    })
                    .await
                    .0
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap_or(0), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_result_is_reused_for_a_while_then_the_work_runs_again() {
        let flights = Flights::<u32>::default();
        assert_eq!(flights.run("k", 100, || async { 1 }).await, (1, true));
        assert_eq!(flights.run("k", 120, || async { 2 }).await, (1, false));
        assert_eq!(flights.run("other", 120, || async { 3 }).await, (3, true));
        assert_eq!(
            flights.run("k", 100 + KEEP_SECS + 1, || async { 4 }).await,
            (4, true)
        );
    }
}
