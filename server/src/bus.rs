//! Fan-out of session messages to agent sockets, behind one seam.
//!
//! Each session is a topic (its `sid`). The visitor side [`Bus::publish`]es every accepted frame
//! (and session state changes); every agent socket [`Bus::subscribe`]s and forwards what it
//! receives. [`InProcessBus`] uses one bounded tokio broadcast channel per topic, so a slow agent
//! never makes memory grow: when it falls behind by more than the channel capacity its stream
//! yields [`Delivery::Lagged`] and the agent is resynchronized with a fresh snapshot instead.
//! A NATS or Redis implementation can replace it without touching the socket code.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Mutex;

use axum::extract::ws::Utf8Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

/// One published message.
#[derive(Debug, Clone)]
pub struct BusMsg {
    /// Per-session publication counter (strictly increasing). A subscriber that took a
    /// snapshot at counter `n` skips messages with `n` at or below it.
    pub n: u64,
    /// The JSON text frame, forwarded unchanged (cheap to clone).
    pub text: Utf8Bytes,
}

/// What a subscription yields.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The next message.
    Msg(BusMsg),
    /// The subscriber fell behind and this many messages were dropped for it.
    Lagged(u64),
}

/// A subscription: ends when the topic is closed (after the remaining messages).
pub type Subscription = Pin<Box<dyn Stream<Item = Delivery> + Send>>;

/// Publish/subscribe per session.
pub trait Bus: Send + Sync + fmt::Debug {
    /// Sends `msg` to every current subscriber of `topic` (none: dropped).
    fn publish(&self, topic: &str, msg: BusMsg);
    /// Subscribes to messages published on `topic` from now on.
    fn subscribe(&self, topic: &str) -> Subscription;
    /// Closes `topic`: subscriptions end after delivering what was already published.
    fn close(&self, topic: &str);
}

/// Default per-topic buffer (messages) of [`InProcessBus`].
pub const DEFAULT_CAPACITY: usize = 256;

/// The in-process bus: one bounded broadcast channel per topic.
pub struct InProcessBus {
    capacity: usize,
    topics: Mutex<HashMap<String, broadcast::Sender<BusMsg>>>,
}

impl fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topics = self.topics.lock().map(|t| t.len()).unwrap_or(0);
        f.debug_struct("InProcessBus")
            .field("capacity", &self.capacity)
            .field("topics", &topics)
            .finish()
    }
}

impl InProcessBus {
    /// A bus buffering at most `capacity` messages per topic for a slow subscriber.
    pub fn new(capacity: usize) -> Self {
        InProcessBus {
            capacity: capacity.max(1),
            topics: Mutex::new(HashMap::new()),
        }
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<BusMsg>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        InProcessBus::new(DEFAULT_CAPACITY)
    }
}

impl Bus for InProcessBus {
    fn publish(&self, topic: &str, msg: BusMsg) {
        if let Some(tx) = self.topics().get(topic) {
            // An error only means there is no subscriber right now.
            let _ = tx.send(msg);
        }
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        let rx = self
            .topics()
            .entry(topic.to_string())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe();
        Box::pin(BroadcastStream::new(rx).map(|r| match r {
            Ok(m) => Delivery::Msg(m),
            Err(BroadcastStreamRecvError::Lagged(n)) => Delivery::Lagged(n),
        }))
    }

    fn close(&self, topic: &str) {
        self.topics().remove(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u64) -> BusMsg {
        BusMsg {
            n,
            text: Utf8Bytes::from(format!("{{\"n\":{n}}}")),
        }
    }

    #[tokio::test]
    async fn delivers_in_order_and_ends_on_close() {
        let bus = InProcessBus::new(8);
        bus.publish("a", msg(0)); // nobody listening: dropped
        let mut s1 = bus.subscribe("a");
        let mut s2 = bus.subscribe("a");
        let mut other = bus.subscribe("b");
        bus.publish("a", msg(1));
        bus.publish("a", msg(2));
        bus.close("a");
        for s in [&mut s1, &mut s2] {
            for want in [1, 2] {
                match s.next().await {
                    Some(Delivery::Msg(m)) => assert_eq!(m.n, want),
                    d => panic!("{d:?}"),
                }
            }
            assert!(s.next().await.is_none());
        }
        bus.publish("b", msg(3));
        assert!(matches!(other.next().await, Some(Delivery::Msg(m)) if m.n == 3));
    }

    #[tokio::test]
    async fn slow_subscriber_lags_instead_of_buffering() {
        let bus = InProcessBus::new(4);
        let mut s = bus.subscribe("a");
        for n in 1..=20 {
            bus.publish("a", msg(n));
        }
        assert!(matches!(s.next().await, Some(Delivery::Lagged(16))));
        match s.next().await {
            Some(Delivery::Msg(m)) => assert_eq!(m.n, 17),
            d => panic!("{d:?}"),
        }
    }
}
