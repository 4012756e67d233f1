//! API keys: long-lived credentials of a user (`Authorization: Api-Key <prefix>.<secret>`),
//! found by their public prefix, stored only as a keyed hash of the whole key.
//!
//! Nothing is cached: every authentication reads the row, so a revocation written by one
//! server is refused by every server sharing the database from the next request on.

use tessera_core::Timestamp;

use crate::Store;
use crate::engine::Retry;
use crate::error::Result;

/// Every column of `api_keys`, in the order of [`ApiKeyRow`].
macro_rules! api_key_columns {
    () => {
        "id, prefix, hash, user_id, name, scopes, created_at, expires_at, revoked_at, \
         last_used_at, last_used_ip"
    };
}

/// The `WHERE` of [`Store::api_keys_page`]: `$1` the user (or NULL), `$2` whether
/// superusers' keys are left out.
macro_rules! page_filter {
    () => {
        "($1 IS NULL OR user_id = $1) \
         AND (NOT $2 OR user_id NOT IN (SELECT id FROM users WHERE is_superuser))"
    };
}

/// Longest prefix looked up, in characters (issued prefixes are shorter).
const MAX_PREFIX_CHARS: usize = 64;

/// An API key as stored: everything but the key itself. Its `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Primary key.
    pub id: i64,
    /// The public part of the key, before the dot; unique.
    pub prefix: String,
    /// The keyed hash of the whole key (hex); compared in constant time.
    pub hash: String,
    /// The user the key authenticates as.
    pub user_id: i64,
    /// The owner's label for the key.
    pub name: String,
    /// What the key is limited to; empty: everything its user may do.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// When a use of it was last recorded (at most once a minute: see
    /// [`Store::record_api_key_use`]).
    pub last_used_at: Option<Timestamp>,
    /// The client address of its last recorded use.
    pub last_used_ip: Option<String>,
}

impl std::fmt::Debug for ApiKey {
    /// Every field but the hash, which is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("last_used_at", &self.last_used_at)
            .field("last_used_ip", &self.last_used_ip)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Whether the key authenticates at `now`: not revoked, not expired.
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| expires > now)
    }
}

/// A row of `api_keys`, scopes still in their JSON text.
#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: i64,
    prefix: String,
    hash: String,
    user_id: i64,
    name: String,
    scopes: String,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
    last_used_at: Option<Timestamp>,
    last_used_ip: Option<String>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        ApiKey {
            id: row.id,
            prefix: row.prefix,
            hash: row.hash,
            user_id: row.user_id,
            name: row.name,
            // Written by this module only; a row edited by hand into something else limits
            // the key to nothing it could match rather than to everything.
            scopes: serde_json::from_str(&row.scopes)
                .unwrap_or_else(|_| vec![String::from("\u{0}invalid")]),
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
            last_used_ip: row.last_used_ip,
        }
    }
}

/// Data for [`Store::insert_api_key`].
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    /// The public prefix (unique).
    pub prefix: &'a str,
    /// The keyed hash of the whole key (hex).
    pub hash: &'a str,
    /// The owner.
    pub user_id: i64,
    /// The owner's label.
    pub name: &'a str,
    /// The scopes (empty: unlimited).
    pub scopes: &'a [String],
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry, if any.
    pub expires_at: Option<Timestamp>,
}

impl Store {
    /// Stores a new key unless its user already has `max_per_user` keys that are neither
    /// revoked nor expired at `new.created_at` (`None` then). The count and the insert run
    /// in one write transaction, the user's row locked on PostgreSQL, so concurrent
    /// creations cannot exceed the bound.
    ///
    /// # Errors
    /// The database error: a duplicate prefix (a unique violation, which the caller may
    /// answer by drawing another), or a user deleted meanwhile (the foreign key).
    pub async fn insert_api_key(
        &self,
        new: &NewApiKey<'_>,
        max_per_user: u32,
    ) -> Result<Option<ApiKey>> {
        let scopes = serde_json::to_string(new.scopes).unwrap_or_else(|_| "[]".into());
        db!(write self, Retry::NotApplied, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            if engine == crate::Engine::Postgres {
                sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                    .bind(new.user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let (live,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(new.user_id)
            .bind(new.created_at)
            .fetch_one(&mut *tx)
            .await?;
            if live >= i64::from(max_per_user) {
                return Ok::<_, sqlx::Error>(None);
            }
            let row = sqlx::query_as::<_, ApiKeyRow>(concat!(
                "INSERT INTO api_keys (prefix, hash, user_id, name, scopes, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
                api_key_columns!()
            ))
            .bind(new.prefix)
            .bind(new.hash)
            .bind(new.user_id)
            .bind(new.name)
            .bind(&scopes)
            .bind(new.created_at)
            .bind(new.expires_at)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(row))
        }
        .await)
        .map(|row| row.map(ApiKey::from))
    }

    /// The key whose prefix is `prefix`, revoked and expired ones included.
    ///
    /// # Errors
    /// The database error.
    pub async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKey>> {
        if prefix.len() > MAX_PREFIX_CHARS {
            return Ok(None);
        }
        let row: Option<ApiKeyRow> = fetch!(
            self,
            fetch_optional,
            ApiKeyRow,
            concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM api_keys WHERE prefix = $1"
            ),
            prefix
        )?;
        Ok(row.map(ApiKey::from))
    }

    /// The keys of `user_id`, newest first, revoked and expired ones included.
    ///
    /// # Errors
    /// The database error.
    pub async fn api_keys_of(&self, user_id: i64) -> Result<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = fetch!(
            self,
            fetch_all,
            ApiKeyRow,
            concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM api_keys WHERE user_id = $1 ORDER BY id DESC"
            ),
            user_id
        )?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    /// Every user's keys, newest first: at most `limit` from the `offset`th on.
    ///
    /// # Errors
    /// The database error.
    pub async fn list_api_keys(&self, limit: i64, offset: i64) -> Result<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = fetch!(
            self,
            fetch_all,
            ApiKeyRow,
            concat!(
                "SELECT ",
                api_key_columns!(),
                " FROM api_keys ORDER BY id DESC LIMIT $1 OFFSET $2"
            ),
            limit,
            offset
        )?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    /// A page of keys, newest first: `user_id`'s when given, else everyone's; without the
    /// keys of superusers when `hide_superusers`. At most `limit` from the `offset`th on,
    /// and how many there are in all.
    ///
    /// # Errors
    /// The database error.
    pub async fn api_keys_page(
        &self,
        user_id: Option<i64>,
        hide_superusers: bool,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<ApiKey>)> {
        let count = concat!("SELECT COUNT(*) FROM api_keys WHERE ", page_filter!());
        let (count,) = fetch!(self, fetch_one, (i64,), count, user_id, hide_superusers)?;
        let page = concat!(
            "SELECT ",
            api_key_columns!(),
            " FROM api_keys WHERE ",
            page_filter!(),
            " ORDER BY id DESC LIMIT $3 OFFSET $4"
        );
        let rows: Vec<ApiKeyRow> = fetch!(
            self,
            fetch_all,
            ApiKeyRow,
            page,
            user_id,
            hide_superusers,
            limit,
            offset
        )?;
        Ok((count, rows.into_iter().map(ApiKey::from).collect()))
    }

    /// Revokes every live key of `user_id` at `now` in one `UPDATE … RETURNING`; returns the
    /// keys it revoked (none already revoked).
    ///
    /// # Errors
    /// The database error.
    pub async fn revoke_api_keys_of(&self, user_id: i64, now: Timestamp) -> Result<Vec<ApiKey>> {
        let rows = fetch!(
            write self,
            fetch_all,
            ApiKeyRow,
            concat!(
                "UPDATE api_keys SET revoked_at = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL RETURNING ",
                api_key_columns!()
            ),
            user_id,
            now
        );
        let rows: Vec<ApiKeyRow> = self.counted(rows)?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    /// Revokes the key `prefix` at `now` — only if it belongs to `owner`, when given — in one
    /// conditional `UPDATE … RETURNING`. A key revoked before keeps its first revocation
    /// time. `None` when there is no such key (of that owner).
    ///
    /// # Errors
    /// The database error.
    pub async fn revoke_api_key(
        &self,
        prefix: &str,
        owner: Option<i64>,
        now: Timestamp,
    ) -> Result<Option<ApiKey>> {
        if prefix.len() > MAX_PREFIX_CHARS {
            return Ok(None);
        }
        let row = match owner {
            Some(owner) => fetch!(
                write self,
                fetch_optional,
                ApiKeyRow,
                concat!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) \
                     WHERE prefix = $1 AND user_id = $3 RETURNING ",
                    api_key_columns!()
                ),
                prefix,
                now,
                owner
            ),
            None => fetch!(
                write self,
                fetch_optional,
                ApiKeyRow,
                concat!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) \
                     WHERE prefix = $1 RETURNING ",
                    api_key_columns!()
                ),
                prefix,
                now
            ),
        };
        let row: Option<ApiKeyRow> = self.counted(row)?;
        Ok(row.map(ApiKey::from))
    }

    /// Records a use of key `id` at `now` from `ip` when the last recorded one is at or
    /// before `stale_before` (or there is none): at most one write per key per interval,
    /// whatever the addresses, so a key that alternates between two addresses costs no more
    /// than one that stays. Returns whether this call wrote (of concurrent callers, one
    /// wins).
    ///
    /// # Errors
    /// The database error.
    pub async fn record_api_key_use(
        &self,
        id: i64,
        now: Timestamp,
        ip: Option<&str>,
        stale_before: Timestamp,
    ) -> Result<bool> {
        let changed = changed_rows!(
            self,
            "UPDATE api_keys SET last_used_at = $2, last_used_ip = $3 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $4)",
            id,
            now,
            ip,
            stale_before
        )?;
        Ok(changed > 0)
    }

    /// Deletes the keys revoked, or expired, at or before `before`; returns how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn flush_api_keys(&self, before: Timestamp) -> Result<u64> {
        let deleted = changed_rows!(
            self,
            "DELETE FROM api_keys WHERE revoked_at <= $1 OR expires_at <= $1",
            before
        );
        self.counted_rows(deleted)
    }
}
