//! Within one instance, concurrent loads of the same section for the same contact share one
//! outbound request: the first starts it (as its own task, so an agent closing the tab
//! cannot cancel it for the others), the rest wait for its outcome.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

pub struct SingleFlight<K, V> {
    inflight: Map<K, V>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            inflight: Arc::default(),
        }
    }
}

impl<K, V> SingleFlight<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Runs `work` unless a run for `key` is already under way, and returns that run's value.
    /// `None` when the run panicked: its key is forgotten all the same, so the next caller
    /// starts afresh instead of waiting on a run that will never answer.
    pub async fn run<F>(&self, key: K, work: F) -> Option<V>
    where
        F: Future<Output = V> + Send + 'static,
    {
        let mut receiver = {
            let mut inflight = self.inflight.lock().expect("single-flight map lock");
            match inflight.get(&key) {
                Some(receiver) => receiver.clone(),
                None => {
                    let (sender, receiver) = watch::channel(None);
                    inflight.insert(key.clone(), receiver.clone());
                    let forget = ForgetOnDrop {
                        map: self.inflight.clone(),
                        key: Some(key),
                    };
                    tokio::spawn(async move {
                        let value = work.await;
                        // Forget the run first: later callers then find the fresh cache instead.
                        drop(forget);
                        let _ = sender.send(Some(value));
                    });
                    receiver
                }
            }
        };
        // An error means the sender is gone without a value: the run panicked.
        let value = receiver.wait_for(Option::is_some).await.ok()?;
        value.clone()
    }
}

type Map<K, V> = Arc<Mutex<HashMap<K, watch::Receiver<Option<V>>>>>;

/// Removes a run's key when the run ends, however it ends (a panic unwinds through it too).
struct ForgetOnDrop<K: Eq + Hash, V> {
    map: Map<K, V>,
    key: Option<K>,
}

impl<K: Eq + Hash, V> Drop for ForgetOnDrop<K, V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // A poisoned lock still holds a usable map.
            let mut map = self
                .map
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let flights: Arc<SingleFlight<u32, u32>> = Arc::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        let gate = Arc::new(tokio::sync::Mutex::new(Some(gate)));
        let mut callers = Vec::new();
        for _ in 0..20 {
            let (flights, runs, gate) = (flights.clone(), runs.clone(), gate.clone());
            callers.push(tokio::spawn(async move {
                flights
                    .run(7, async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        if let Some(gate) = gate.lock().await.take() {
                            gate.await.ok();
                        }
                        42
                    })
                    .await
            }));
        }
        // Every caller has joined the run before it may finish.
        while !flights.inflight.lock().unwrap().contains_key(&7) {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), Some(42));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_run_that_panics_is_forgotten_and_the_next_caller_starts_afresh() {
        let flights: SingleFlight<u32, u32> = SingleFlight::default();
        let panicking = flights.run(7, async { panic!("the load failed badly") });
        assert_eq!(panicking.await, None);
        assert!(!flights.inflight.lock().unwrap().contains_key(&7));
        assert_eq!(flights.run(7, async { 8 }).await, Some(8));
    }
}
