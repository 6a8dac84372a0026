//! [`ConversationState`]: what a conversation keeps between messages.
//!
//! Two kinds of values, each looked up by the handler through its
//! [`Context`](crate::Context): values in memory, one per type, living as
//! long as the conversation's session ([`Context::state`](crate::Context::state)),
//! and saved values, one per key, loaded from the store on first use and
//! written back in the transaction that marks the message handled
//! ([`Context::saved_state`](crate::Context::saved_state)). A saved value
//! is written only when its JSON changed.

use std::any::{Any, TypeId};
use std::collections::HashMap;

use serde::Serialize;

use crate::store::StateChange;

type AnyValue = Box<dyn Any + Send + Sync>;

/// Serializes a saved value; `None` when it is not of the type the slot
/// was created for (which the slot's own encoder rules out).
type Encoder = fn(&(dyn Any + Send + Sync)) -> Option<Result<String, serde_json::Error>>;

/// A conversation's state between runs.
#[derive(Default)]
pub(crate) struct ConversationState {
    memory: HashMap<TypeId, AnyValue>,
    saved: HashMap<String, Saved>,
}

/// One saved value and what the store holds for it.
struct Saved {
    /// The value, or `None` once cleared.
    value: Option<(AnyValue, Encoder)>,
    /// The JSON the store holds (or will once the pending run is marked
    /// handled); `None` when it holds nothing.
    stored: Option<String>,
}

fn encode<T: Serialize + 'static>(
    value: &(dyn Any + Send + Sync),
) -> Option<Result<String, serde_json::Error>> {
    value.downcast_ref::<T>().map(serde_json::to_string)
}

/// A saved value was asked for as another type than it holds.
#[derive(Debug)]
pub(crate) struct OtherType;

impl ConversationState {
    /// The value of type `T` in memory, created with `Default` on first use.
    pub(crate) fn memory<T: Default + Send + Sync + 'static>(&mut self) -> &mut T {
        self.memory
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut::<T>()
            .expect("the map is keyed by the value's TypeId")
    }

    /// Removes and returns the value of type `T` in memory.
    pub(crate) fn take_memory<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.memory
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast::<T>().ok())
            .map(|b| *b)
    }

    /// Whether the saved value under `key` is known here (loaded, set or
    /// cleared), so the store need not be asked.
    pub(crate) fn knows_saved(&self, key: &str) -> bool {
        self.saved.contains_key(key)
    }

    /// Keeps a value loaded from the store (`stored` is its JSON there).
    pub(crate) fn insert_saved<T>(&mut self, key: &str, value: T, stored: Option<String>)
    where
        T: Serialize + Send + Sync + 'static,
    {
        let value: AnyValue = Box::new(value);
        self.saved.insert(
            key.to_owned(),
            Saved {
                value: Some((value, encode::<T> as Encoder)),
                stored,
            },
        );
    }

    /// The saved value under `key`, which must be known; a cleared one
    /// starts again from `Default`.
    pub(crate) fn saved_mut<T>(&mut self, key: &str) -> Result<&mut T, OtherType>
    where
        T: Serialize + Default + Send + Sync + 'static,
    {
        let slot = self.saved.get_mut(key).ok_or(OtherType)?;
        let (value, _) = slot
            .value
            .get_or_insert_with(|| (Box::new(T::default()), encode::<T> as Encoder));
        value.downcast_mut::<T>().ok_or(OtherType)
    }

    /// Forgets the saved value under `key`; the store forgets it when the
    /// message is marked handled.
    pub(crate) fn clear_saved(&mut self, key: &str) {
        match self.saved.get_mut(key) {
            Some(slot) => slot.value = None,
            None => {
                // Not loaded: whatever the store holds must go.
                self.saved.insert(
                    key.to_owned(),
                    Saved {
                        value: None,
                        stored: Some(String::new()),
                    },
                );
            }
        }
    }

    /// The changes of saved values since the last call, as the store takes
    /// them; from now on they count as stored. A value that cannot be
    /// serialized is logged and left as the store had it.
    pub(crate) fn take_changes(&mut self, conversation: &str) -> Vec<StateChange> {
        let mut changes = Vec::new();
        for (key, slot) in &mut self.saved {
            let json = match &slot.value {
                None => None,
                Some((value, encoder)) => match encoder(&**value) {
                    Some(Ok(json)) => Some(json),
                    Some(Err(e)) => {
                        tracing::error!(
                            conversation, key = %key, error = %e,
                            "saved state cannot be serialized as JSON; it is not saved"
                        );
                        continue;
                    }
                    None => continue,
                },
            };
            if json == slot.stored {
                continue;
            }
            changes.push(StateChange {
                conversation: conversation.to_owned(),
                key: key.clone(),
                value: json.clone(),
            });
            slot.stored = json;
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Default, Serialize)]
    struct History(Vec<String>);

    #[test]
    fn only_changed_values_are_written_once() {
        let mut state = ConversationState::default();
        state.insert_saved("h", History(vec!["hi".into()]), Some(r#"["hi"]"#.into()));
        assert!(state.take_changes("c").is_empty(), "unchanged");
        state
            .saved_mut::<History>("h")
            .unwrap()
            .0
            .push("again".into());
        let changes = state.take_changes("c");
        assert_eq!(
            changes,
            vec![StateChange {
                conversation: "c".into(),
                key: "h".into(),
                value: Some(r#"["hi","again"]"#.into()),
            }]
        );
        assert!(state.take_changes("c").is_empty(), "already written");
    }

    #[test]
    fn clearing_deletes_once_and_a_cleared_value_restarts_from_default() {
        let mut state = ConversationState::default();
        state.clear_saved("never-loaded");
        let changes = state.take_changes("c");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].value, None);
        assert!(state.take_changes("c").is_empty());
        assert!(state.knows_saved("never-loaded"));
        assert!(
            state
                .saved_mut::<History>("never-loaded")
                .unwrap()
                .0
                .is_empty()
        );
        // Default serializes to `[]`, which the store does not hold yet.
        assert_eq!(state.take_changes("c")[0].value.as_deref(), Some("[]"));
    }

    #[test]
    fn another_type_under_the_same_key_is_refused() {
        let mut state = ConversationState::default();
        state.insert_saved("k", History::default(), None);
        assert!(state.saved_mut::<u32>("k").is_err());
        assert!(state.saved_mut::<History>("k").is_ok());
    }

    #[test]
    fn a_value_that_cannot_be_json_is_skipped_not_lost_elsewhere() {
        let mut state = ConversationState::default();
        // JSON object keys must be strings.
        let mut bad = BTreeMap::new();
        bad.insert(vec![1u8], 1u8);
        state.insert_saved("bad", bad, None);
        state.insert_saved("good", 5u32, None);
        let changes = state.take_changes("c");
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].key, "good");
    }
}
