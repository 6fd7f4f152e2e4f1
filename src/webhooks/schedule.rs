//! Which claimed deliveries start next on this instance. A claim takes up to twice what may be
//! under way (per destination, per workspace, per instance), so a finished
//! attempt's slot goes at once to a delivery already claimed instead of waiting for the next
//! claim, and claims come a batch at a time rather than one per finished attempt (a drain of
//! 20,000: 138 claims instead of 276, half the planning). Deliveries start in the order the
//! claim gave them (workspaces taking turns), each as soon as its destination, its workspace
//! and the instance have room.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::attempt::ClaimedDelivery;
use super::queue::Room;

/// How many attempts may be under way at once.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub instance: usize,
    pub destination: usize,
    pub workspace: usize,
}

#[derive(Default)]
struct Counts {
    by_destination: HashMap<i64, usize>,
    by_workspace: HashMap<i64, usize>,
    total: usize,
}

impl Counts {
    fn add(&mut self, delivery: &ClaimedDelivery) {
        *self
            .by_destination
            .entry(delivery.destination_id)
            .or_default() += 1;
        *self.by_workspace.entry(delivery.workspace_id).or_default() += 1;
        self.total += 1;
    }

    fn remove(&mut self, destination: i64, workspace: i64) {
        for (counts, key) in [
            (&mut self.by_destination, destination),
            (&mut self.by_workspace, workspace),
        ] {
            if let Some(n) = counts.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&key);
                }
            }
        }
        self.total = self.total.saturating_sub(1);
    }
}

/// Each key's room under `cap`, given what it holds.
fn room_under(cap: usize, held: &HashMap<i64, usize>) -> Room {
    let mut room = Room {
        each: i32::try_from(cap).unwrap_or(i32::MAX),
        ..Default::default()
    };
    for (&id, &n) in held {
        match cap.saturating_sub(n) {
            0 => room.full.push(id),
            left => room
                .partial
                .push((id, i32::try_from(left).unwrap_or(i32::MAX))),
        }
    }
    room
}

/// A claimed delivery waiting for room, with its place in the claim order.
struct Held {
    sequence: u64,
    claimed_at: Instant,
    delivery: ClaimedDelivery,
}

/// The deliveries this instance holds: waiting for room, or under way.
pub struct Schedule {
    caps: Caps,
    /// How long a delivery may wait for room and still start.
    max_wait: Duration,
    /// How many times the caps may be held (claimed: waiting or under way): twice, or once
    /// when nothing may wait.
    hold: usize,
    /// Each destination's waiting deliveries, oldest claimed first. Kept per destination so
    /// that a finished attempt finds the next one to start among destinations, not among
    /// every waiting delivery (a scan of the whole list per attempt cost the worker more than
    /// the claims it saved).
    waiting: HashMap<i64, VecDeque<Held>>,
    claimed: u64,
    /// Waiting or under way: what the next claim's room counts.
    held: Counts,
    /// Under way: what starting one more counts.
    running: Counts,
}

/// What [`Schedule::next`] decided.
#[derive(Default)]
pub struct Next {
    /// To attempt now (counted as under way).
    pub start: Vec<ClaimedDelivery>,
    /// Held too long to start: given back to the queue unattempted (`queue::release`), while
    /// their lease still keeps every other claim off them.
    pub give_back: Vec<i64>,
}

impl Schedule {
    pub fn new(caps: Caps, max_wait: Duration) -> Self {
        Schedule {
            caps,
            max_wait,
            hold: if max_wait.is_zero() { 1 } else { 2 },
            waiting: HashMap::new(),
            claimed: 0,
            held: Counts::default(),
            running: Counts::default(),
        }
    }

    /// Each destination's and each workspace's room for the next claim, and how many the
    /// instance may still claim.
    pub fn room(&self) -> (Room, Room, usize) {
        (
            room_under(self.caps.destination * self.hold, &self.held.by_destination),
            room_under(self.caps.workspace * self.hold, &self.held.by_workspace),
            (self.caps.instance * self.hold).saturating_sub(self.held.total),
        )
    }

    fn waiting_count(&self) -> usize {
        self.held.total - self.running.total
    }

    /// True when a claim is worth its cost now: nothing is under way, or what waits would
    /// keep the running attempts' slots busy for only a quarter of a round.
    pub fn wants_claim(&self) -> bool {
        self.held.total < self.caps.instance * self.hold
            && (self.running.total == 0 || self.waiting_count() * 4 <= self.running.total)
    }

    /// Takes a claimed batch, in the claim's order.
    pub fn add(&mut self, batch: Vec<ClaimedDelivery>, now: Instant) {
        for delivery in batch {
            self.held.add(&delivery);
            self.claimed += 1;
            self.waiting
                .entry(delivery.destination_id)
                .or_default()
                .push_back(Held {
                    sequence: self.claimed,
                    claimed_at: now,
                    delivery,
                });
        }
    }

    fn has_room(&self, destination: i64, workspace: i64) -> bool {
        let under = |counts: &HashMap<i64, usize>, key: i64, cap: usize| {
            counts.get(&key).copied().unwrap_or(0) < cap
        };
        under(
            &self.running.by_destination,
            destination,
            self.caps.destination,
        ) && under(&self.running.by_workspace, workspace, self.caps.workspace)
    }

    /// The waiting deliveries that may start now, in claim order; and those held longer than
    /// the longest wait, to give back: their attempt might outlast their lease.
    pub fn next(&mut self, now: Instant) -> Next {
        let max_wait = self.max_wait;
        let mut next = Next::default();
        for queue in self.waiting.values_mut() {
            while let Some(oldest) = queue.front() {
                if now.duration_since(oldest.claimed_at) <= max_wait {
                    break;
                }
                let d = &oldest.delivery;
                self.held.remove(d.destination_id, d.workspace_id);
                next.give_back.push(d.id);
                queue.pop_front();
            }
        }
        self.waiting.retain(|_, queue| !queue.is_empty());
        // Each time, the earliest claimed of the deliveries whose destination, workspace and
        // instance have room.
        while self.running.total < self.caps.instance {
            let first = self
                .waiting
                .iter()
                .filter_map(|(&destination, queue)| {
                    let oldest = queue.front()?;
                    self.has_room(destination, oldest.delivery.workspace_id)
                        .then_some((oldest.sequence, destination))
                })
                .min();
            let Some((_, destination)) = first else {
                break;
            };
            let queue = self.waiting.get_mut(&destination).expect("found above");
            let held = queue.pop_front().expect("not empty");
            if queue.is_empty() {
                self.waiting.remove(&destination);
            }
            self.running.add(&held.delivery);
            next.start.push(held.delivery);
        }
        next
    }

    /// An attempt started by [`Schedule::next`] is over (recorded or on its way to be).
    pub fn finished(&mut self, destination: i64, workspace: i64) {
        self.running.remove(destination, workspace);
        self.held.remove(destination, workspace);
    }

    pub fn running(&self) -> usize {
        self.running.total
    }

    /// Every waiting delivery, in claim order, to give back (at shutdown).
    pub fn take_waiting(&mut self) -> Vec<i64> {
        let mut waiting: Vec<Held> = self.waiting.drain().flat_map(|(_, q)| q).collect();
        waiting.sort_by_key(|held| held.sequence);
        for held in &waiting {
            let d = &held.delivery;
            self.held.remove(d.destination_id, d.workspace_id);
        }
        waiting.into_iter().map(|held| held.delivery.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: i64, workspace_id: i64, destination_id: i64) -> ClaimedDelivery {
        ClaimedDelivery {
            id,
            workspace_id,
            destination_id,
            ulid: format!("u{id}"),
            payload: String::new(),
            attempts: 0,
            url: String::new(),
            secret: String::new(),
            previous_secret: None,
            replay_id: None,
        }
    }

    const CAPS: Caps = Caps {
        instance: 4,
        destination: 2,
        workspace: 3,
    };
    const WAIT: Duration = Duration::from_secs(15);

    fn ids(deliveries: &[ClaimedDelivery]) -> Vec<i64> {
        deliveries.iter().map(|d| d.id).collect()
    }

    #[test]
    fn starts_in_claim_order_within_every_cap_and_holds_the_rest() {
        let mut schedule = Schedule::new(CAPS, WAIT);
        let now = Instant::now();
        // Workspace 1: destinations 10 and 11; workspace 2: destination 20.
        schedule.add(
            vec![
                delivery(1, 1, 10),
                delivery(2, 1, 10),
                delivery(3, 1, 10),
                delivery(4, 1, 11),
                delivery(5, 1, 11),
                delivery(6, 2, 20),
            ],
            now,
        );
        let next = schedule.next(now);
        // Destination 10 takes two, workspace 1 reaches three with 4, and the instance its
        // fourth with workspace 2's.
        assert_eq!(ids(&next.start), vec![1, 2, 4, 6]);
        assert!(next.give_back.is_empty());
        assert_eq!(schedule.running(), 4);

        // Destination 10 finishes one: its next starts, not destination 11's.
        schedule.finished(10, 1);
        assert_eq!(ids(&schedule.next(now).start), vec![3]);
        schedule.finished(20, 2);
        // Workspace 1 is at its cap of three: 5 waits though the instance has room.
        assert!(schedule.next(now).start.is_empty());
        schedule.finished(11, 1);
        assert_eq!(ids(&schedule.next(now).start), vec![5]);
    }

    #[test]
    fn the_claims_room_counts_what_is_held_up_to_twice_the_caps() {
        let mut schedule = Schedule::new(CAPS, WAIT);
        let now = Instant::now();
        schedule.add((1..=3).map(|id| delivery(id, 1, 10)).collect(), now);
        schedule.next(now);
        let (destinations, workspaces, instance) = schedule.room();
        assert_eq!(destinations.each, 4);
        assert_eq!(destinations.partial, vec![(10, 1)]);
        assert_eq!(workspaces.partial, vec![(1, 3)]);
        assert_eq!(instance, 5);
        schedule.add(vec![delivery(4, 1, 10)], now);
        assert_eq!(schedule.room().0.full, vec![10]);
    }

    #[test]
    fn claims_again_when_little_waits_behind_the_running() {
        let caps = Caps {
            instance: 16,
            destination: 16,
            workspace: 16,
        };
        let mut schedule = Schedule::new(caps, WAIT);
        assert!(schedule.wants_claim(), "nothing under way");
        let now = Instant::now();
        schedule.add((1..=24).map(|id| delivery(id, 1, 10)).collect(), now);
        schedule.next(now);
        // 16 running, 8 waiting: half a round is still waiting.
        assert!(!schedule.wants_claim());
        for _ in 0..4 {
            schedule.finished(10, 1);
        }
        schedule.next(now);
        // 16 running, 4 waiting.
        assert!(schedule.wants_claim());
    }

    #[test]
    fn what_waits_too_long_is_given_back_and_no_longer_held() {
        let mut schedule = Schedule::new(CAPS, WAIT);
        let then = Instant::now();
        schedule.add((1..=4).map(|id| delivery(id, 1, 10)).collect(), then);
        assert_eq!(ids(&schedule.next(then).start), vec![1, 2]);
        let later = then + WAIT + Duration::from_millis(1);
        let next = schedule.next(later);
        assert!(next.start.is_empty());
        assert_eq!(next.give_back, vec![3, 4]);
        assert_eq!(schedule.room().0.partial, vec![(10, 2)]);
        schedule.finished(10, 1);
        schedule.finished(10, 1);
        assert_eq!(schedule.running(), 0);
        assert!(schedule.room().0.partial.is_empty());
    }

    #[test]
    fn what_waited_too_long_is_given_back_even_when_room_comes() {
        let mut schedule = Schedule::new(CAPS, WAIT);
        let then = Instant::now();
        schedule.add((1..=3).map(|id| delivery(id, 1, 10)).collect(), then);
        schedule.next(then);
        schedule.finished(10, 1);
        let next = schedule.next(then + WAIT * 2);
        assert!(
            next.start.is_empty(),
            "its lease may end during its attempt"
        );
        assert_eq!(next.give_back, vec![3]);
    }

    #[test]
    fn holding_once_the_caps_claims_only_what_may_start() {
        let mut schedule = Schedule::new(CAPS, Duration::ZERO);
        let now = Instant::now();
        schedule.add((1..=2).map(|id| delivery(id, 1, 10)).collect(), now);
        assert_eq!(ids(&schedule.next(now).start), vec![1, 2]);
        let (destinations, _, instance) = schedule.room();
        assert_eq!(destinations.full, vec![10]);
        assert_eq!(instance, 2);
    }

    #[test]
    fn shutdown_takes_what_waits() {
        let mut schedule = Schedule::new(CAPS, WAIT);
        let now = Instant::now();
        schedule.add((1..=3).map(|id| delivery(id, 1, 10)).collect(), now);
        schedule.next(now);
        assert_eq!(schedule.take_waiting(), vec![3]);
        assert_eq!(schedule.room().0.partial, vec![(10, 2)]);
    }
}
