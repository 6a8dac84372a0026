//! Where `ilink login`, `ilink accounts` and `ilink quarantine` find the
//! state: the SQLite database of the state directory, or a cluster's
//! PostgreSQL database (`--database-url` / `ILINK_DATABASE_URL`).

use std::sync::Arc;

use ilink_framework::store::{PgStore, SqliteStore, StateStore};

use crate::exit::CliError;
use crate::flags::Global;

/// An open store of accounts and where it is, for messages.
pub struct AccountStore {
    store: Arc<dyn StateStore>,
    kind: Kind,
}

enum Kind {
    Dir(Arc<SqliteStore>),
    Database(Arc<PgStore>),
}

impl AccountStore {
    /// Opens the database `--database-url` names, else the state directory's.
    pub async fn open(global: &Global) -> Result<Self, CliError> {
        Ok(
            match global.database_url.as_deref().filter(|u| !u.is_empty()) {
                Some(url) => {
                    let pg = Arc::new(PgStore::connect(url).await?);
                    Self {
                        store: pg.clone(),
                        kind: Kind::Database(pg),
                    }
                }
                None => {
                    let sqlite = Arc::new(global.store().await?);
                    Self {
                        store: sqlite.clone(),
                        kind: Kind::Dir(sqlite),
                    }
                }
            },
        )
    }

    /// The state directory, when the accounts are kept in one (not in a
    /// cluster's database, whose workers stop an account removed there).
    pub fn state_dir(&self) -> Option<&std::path::Path> {
        match &self.kind {
            Kind::Dir(s) => Some(s.dir()),
            Kind::Database(_) => None,
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn StateStore {
        &*self.store
    }

    /// The state directory, or the database as `postgres://user@host:port/db`
    /// (never with its password).
    pub fn location(&self) -> String {
        match &self.kind {
            Kind::Dir(s) => s.dir().display().to_string(),
            Kind::Database(pg) => pg.name().to_owned(),
        }
    }

    /// The `--json` key naming [`Self::location`].
    pub fn location_key(&self) -> &'static str {
        match &self.kind {
            Kind::Dir(_) => "state_dir",
            Kind::Database(_) => "database",
        }
    }

    /// Waits for pending writes and closes the store.
    pub async fn close(&self) {
        match &self.kind {
            Kind::Dir(s) => s.close().await,
            Kind::Database(pg) => pg.close().await,
        }
    }
}
