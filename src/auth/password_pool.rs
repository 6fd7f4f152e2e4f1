//! Where password checks run: a few threads of their own, at a lower CPU priority, behind a
//! short bounded queue. A login reserves its place before it touches the database, so a flood
//! of logins holds at most `threads + queue` of anything, takes at most those threads' share
//! of the CPU, and is refused at once when full instead of making everyone wait.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::helpdesk::password;

type Job = Box<dyn FnOnce() + Send>;

/// Hashing threads and their queue. Dropping the last clone ends the threads.
#[derive(Clone)]
pub struct PasswordPool {
    jobs: mpsc::UnboundedSender<Job>,
    /// One permit per place: a thread or a queue slot. The channel is unbounded because
    /// nothing is sent without a permit.
    places: Arc<Semaphore>,
}

/// The pool was full: the caller should answer "busy, try again shortly".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// A reserved place in the pool, held from before the login's first query to its hash.
pub struct PasswordSlot {
    jobs: mpsc::UnboundedSender<Job>,
    _place: OwnedSemaphorePermit,
}

impl PasswordPool {
    /// `threads` checks run at once; `queue` more may wait for a thread.
    pub fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, receiver) = mpsc::unbounded_channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads {
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
        PasswordPool {
            jobs,
            places: Arc::new(Semaphore::new(threads + queue)),
        }
    }

    /// A place for one check, or `Busy` at once.
    pub fn reserve(&self) -> Result<PasswordSlot, Busy> {
        let place = Arc::clone(&self.places)
            .try_acquire_owned()
            .map_err(|_| Busy)?;
        Ok(PasswordSlot {
            jobs: self.jobs.clone(),
            _place: place,
        })
    }
}

impl PasswordSlot {
    /// Whether `password` matches `stored_hash` (or, with `None`, a hash nobody knows, so that
    /// an unknown account costs the same time as a known one).
    pub async fn verify(self, password: String, stored_hash: Option<String>) -> Result<bool, Busy> {
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
        self.jobs.send(job).map_err(|_| Busy)?;
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
        let check = |password: &str, hash: Option<String>| {
            pool.reserve().unwrap().verify(password.to_string(), hash)
        };
        assert_eq!(check("correct horse", Some(hash.clone())).await, Ok(true));
        assert_eq!(check("wrong horse", Some(hash)).await, Ok(false));
        assert_eq!(check("anything", None).await, Ok(false));
    }

    #[tokio::test]
    async fn places_are_refused_at_once_when_all_are_taken_and_come_back_when_released() {
        let pool = PasswordPool::new(1, 1);
        let first = pool.reserve().unwrap();
        let second = pool.reserve().unwrap();
        assert!(pool.reserve().is_err());
        drop(first);
        let third = pool.reserve().unwrap();
        let hash = password::hash("x").unwrap();
        assert_eq!(third.verify("x".into(), Some(hash)).await, Ok(true));
        drop(second);
        assert!(pool.reserve().is_ok());
    }
}
