//! Where password checks run: a few threads of their own, at a lower CPU priority, behind a
//! short bounded queue. A flood of logins then takes at most those threads' share of the CPU,
//! holds no pooled connection, and is refused at once when the queue is full instead of
//! making everyone wait.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::password;

type Job = Box<dyn FnOnce() + Send>;

/// Hashing threads and their queue. Dropping the last clone ends the threads.
#[derive(Clone)]
pub struct PasswordPool {
    jobs: mpsc::Sender<Job>,
}

/// The pool's queue was full: the caller should answer "busy, try again shortly".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl PasswordPool {
    /// `threads` checks run at once; `queue` more may wait for a thread.
    pub fn new(threads: usize, queue: usize) -> Self {
        let (jobs, receiver) = mpsc::channel::<Job>(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        // Holding the lock while waiting is fine: the other threads would wait anyway.
                        let job = receiver.lock().expect("not poisoned").blocking_recv();
                        match job {
                            Some(job) => job(),
                            None => break,
                        }
                    }
                })
                .expect("a password thread starts");
        }
        PasswordPool { jobs }
    }

    /// Whether `password` matches `stored_hash` (or, with `None`, a hash nobody knows, so that
    /// an unknown account costs the same time as a known one).
    pub async fn verify(
        &self,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<bool, Busy> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let matches = match stored_hash {
                Some(hash) => password::verify(&password, &hash),
                None => {
                    password::verify(&password, password::dummy_hash());
                    false
                }
            };
            let _ = done.send(matches);
        });
        self.jobs.try_send(job).map_err(|_| Busy)?;
        // A dropped job (the pool shutting down) counts as busy rather than as a match.
        result.await.map_err(|_| Busy)
    }
}

/// Logins are worth less than answering everyone else: let the scheduler prefer other work.
fn lower_this_threads_priority() {
    // On Linux, nice applies to the calling thread only.
    // SAFETY: nice() has no memory-safety preconditions.
    unsafe {
        libc::nice(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_a_password_and_spends_a_hash_on_an_unknown_account() {
        let pool = PasswordPool::new(1, 4);
        let hash = password::hash("correct horse").unwrap();
        assert_eq!(
            pool.verify("correct horse".into(), Some(hash.clone()))
                .await,
            Ok(true)
        );
        assert_eq!(
            pool.verify("wrong horse".into(), Some(hash)).await,
            Ok(false)
        );
        assert_eq!(pool.verify("anything".into(), None).await, Ok(false));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = PasswordPool::new(1, 1);
        let hash = password::hash("correct horse").unwrap();
        let checks: Vec<_> = (0..20)
            .map(|_| {
                let (pool, hash) = (pool.clone(), hash.clone());
                tokio::spawn(async move { pool.verify("x".into(), Some(hash)).await })
            })
            .collect();
        let mut busy = 0;
        for check in checks {
            if check.await.unwrap() == Err(Busy) {
                busy += 1;
            }
        }
        assert!(
            busy >= 10,
            "only {busy} of 20 were refused with one thread and a queue of one"
        );
    }
}
