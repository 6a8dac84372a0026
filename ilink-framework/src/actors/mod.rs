//! The actor tree of one account:
//!
//! ```text
//! AccountSupervisor
//! ├── Poller   long-polls, inbox → cursor → Router
//! ├── Router   dedup, conversation key → Session, caps, eviction
//! │   └── Session*  one per conversation, runs the Handler
//! └── Sender   lanes per user: quota, pacing, retries, typing
//! ```

pub(crate) mod in_flight;
pub(crate) mod poller;
pub(crate) mod router;
pub(crate) mod sender;
pub(crate) mod session;
pub(crate) mod shared;
pub(crate) mod supervisor;
