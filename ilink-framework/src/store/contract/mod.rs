//! The behaviour every [`StateStore`] must show, as checks any store
//! implementation can run (feature `contract-tests`).
//!
//! Each check gets a fresh, empty store from the factory and panics, naming
//! itself, when the store gets something wrong:
//!
//! ```no_run
//! use ilink_framework::store::{MemoryStore, contract};
//!
//! # async fn in_a_tokio_test() {
//! contract::run_all(|| async { MemoryStore::new() }).await;
//! # }
//! ```
//!
//! A store whose factory needs clean-up (a temporary directory, a test
//! database) can return a wrapper that holds it and implements
//! [`StateStore`] by delegation, or run the checks one by one.

mod accounts;
mod fixtures;
mod inbox;
mod sends;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use futures::future::BoxFuture;

pub use self::accounts::*;
pub use self::inbox::*;
pub use self::sends::*;
use super::StateStore;

/// One check of the contract.
pub type Check = for<'a> fn(&'a dyn StateStore) -> BoxFuture<'a, ()>;

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("cursor_round_trip", |s| cursor_round_trip(s).boxed()),
    ("inbox_keeps_id_order_and_removes", |s| {
        inbox_keeps_id_order_and_removes(s).boxed()
    }),
    ("concurrent_removals_all_land", |s| {
        concurrent_removals_all_land(s).boxed()
    }),
    ("context_tokens_per_user", |s| {
        context_tokens_per_user(s).boxed()
    }),
    (
        "last_entry_id_covers_the_inbox_and_the_recorded_keys",
        |s| last_entry_id_covers_the_inbox_and_the_recorded_keys(s).boxed(),
    ),
    ("dedup_recognizes_other_entries_only_within_window", |s| {
        dedup_recognizes_other_entries_only_within_window(s).boxed()
    }),
    (
        "a_batch_is_checked_in_order_against_itself_and_earlier_entries",
        |s| a_batch_is_checked_in_order_against_itself_and_earlier_entries(s).boxed(),
    ),
    ("received_tokens_follow_after_inbound", |s| {
        received_tokens_follow_after_inbound(s).boxed()
    }),
    ("send_counts_only_rise_and_only_for_the_same_token", |s| {
        send_counts_only_rise_and_only_for_the_same_token(s).boxed()
    }),
    (
        "journal_keeps_acknowledged_sends_while_the_entry_waits",
        |s| journal_keeps_acknowledged_sends_while_the_entry_waits(s).boxed(),
    ),
    (
        "handled_entries_take_their_journal_and_save_state_together",
        |s| handled_entries_take_their_journal_and_save_state_together(s).boxed(),
    ),
    (
        "quarantine_keeps_what_cannot_be_handled_with_its_batch",
        |s| quarantine_keeps_what_cannot_be_handled_with_its_batch(s).boxed(),
    ),
    ("a_failed_batch_writes_nothing", |s| {
        a_failed_batch_writes_nothing(s).boxed()
    }),
    ("credentials_list_sorted_replace_and_remove", |s| {
        credentials_list_sorted_replace_and_remove(s).boxed()
    }),
    (
        "forgetting_an_account_keeps_only_its_credentials_and_other_accounts",
        |s| forgetting_an_account_keeps_only_its_credentials_and_other_accounts(s).boxed(),
    ),
];

/// Runs every check, each on a fresh store from `new_store`; a failure
/// panics with the check's name and the assertion that failed.
pub async fn run_all<S, F, Fut>(mut new_store: F)
where
    S: StateStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    for (name, check) in CHECKS {
        let store = new_store().await;
        if let Err(panic) = AssertUnwindSafe(check(&store)).catch_unwind().await {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("store contract check `{name}` failed: {message}");
        }
    }
}
