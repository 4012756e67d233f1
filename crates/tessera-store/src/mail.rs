//! The account flows by e-mail: the outbox of mails waiting to be sent, the account tokens
//! (and codes) those mails carry, and the user's verified address.
//!
//! The outbox holds no secret: a row says which mail to send to whom, and the sender mints
//! the token when it sends. Senders on several servers claim due rows with a lease
//! (PostgreSQL: `FOR UPDATE SKIP LOCKED`), so a row is never sent by two at once.
//!
//! An account token is kept only as hashes. Redeeming one is a conditional
//! `DELETE … RETURNING`: of concurrent redemptions, on any number of servers, exactly one
//! gets the row. A code is checked against the newest token of its purpose (of an e-mail
//! change: every live token going to the new address), each attempt first counted by a
//! conditional `UPDATE`, so no more than the allowed number of guesses is ever compared,
//! however many arrive at once. A token whose code took its last wrong guess keeps working
//! by its link: only its code is disabled.

use tessera_core::Timestamp;

use crate::Store;
use crate::email::normalize_email;
use crate::engine::Retry;
use crate::error::{Result, StoreError, map_user_write_error};
use crate::users::{USER_BY_ID, User};

/// Longest token hash looked up, in characters (a hex SHA-256 is 64).
const MAX_HASH_CHARS: usize = 128;

/// The most tokens one code is compared against when it names the new address of an
/// e-mail change (several users may have asked for the same address), newest first.
pub const MAX_CODE_CANDIDATES: i64 = 16;

/// The columns of `mail_outbox`, in [`OutboxMail`]'s order.
macro_rules! outbox_columns {
    () => {
        "id, kind, recipient, user_id, detail, attempts, next_attempt_at, lease_until, \
         created_at, last_error"
    };
}

/// The columns of `account_tokens`, in [`AccountToken`]'s order.
macro_rules! token_columns {
    () => {
        "id, purpose, user_id, token_hash, code_hash, binding, new_email, attempts, \
         created_at, expires_at"
    };
}

/// A mail to queue with [`Store::enqueue_mail`].
#[derive(Debug, Clone, Copy)]
pub struct NewMail<'a> {
    /// What mail it is (`password_reset`, `verify_email` …).
    pub kind: &'a str,
    /// The address it goes to.
    pub recipient: &'a str,
    /// The user it is about, when the request knew them.
    pub user_id: Option<i64>,
    /// A small JSON object the sender needs (never a secret).
    pub detail: &'a serde_json::Value,
}

/// A mail in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxMail {
    /// Its row.
    pub id: i64,
    /// What mail it is.
    pub kind: String,
    /// The address it goes to.
    pub recipient: String,
    /// The user it is about, when the request knew them.
    pub user_id: Option<i64>,
    /// The JSON detail it was queued with.
    pub detail: String,
    /// Failed sends so far.
    pub attempts: i64,
    /// When it is due.
    pub next_attempt_at: Timestamp,
    /// Until when a sender holds it, if one does.
    pub lease_until: Option<Timestamp>,
    /// When it was queued.
    pub created_at: Timestamp,
    /// Why the last send failed.
    pub last_error: Option<String>,
}

/// A token to store with [`Store::mint_account_token`].
#[derive(Debug, Clone, Copy)]
pub struct NewAccountToken<'a> {
    /// What it is for (`password_reset`, `verify_email`, `email_change`, `login_code`).
    pub purpose: &'a str,
    /// Whose it is.
    pub user_id: i64,
    /// SHA-256 (hex) of the token.
    pub token_hash: &'a str,
    /// SHA-256 (hex) of the state the token changes.
    pub binding: &'a str,
    /// The address an e-mail change goes to.
    pub new_email: Option<&'a str>,
    /// When it is minted.
    pub now: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// A stored account token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountToken {
    /// Its row.
    pub id: i64,
    /// What it is for.
    pub purpose: String,
    /// Whose it is.
    pub user_id: i64,
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// The hash (hex) of its code, over the row id and the code (the service keys it with a
    /// server secret).
    pub code_hash: String,
    /// SHA-256 (hex) of the state the token changes.
    pub binding: String,
    /// The address an e-mail change goes to.
    pub new_email: Option<String>,
    /// Codes tried against it (the attempt that returned it included).
    pub attempts: i64,
    /// When it was minted.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// Whose code is tried in [`Store::attempt_account_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOwner<'a> {
    /// The newest token of this user.
    User(i64),
    /// Every live token whose `new_email` is this address (an e-mail change, confirmed
    /// from the new address), newest first, at most [`MAX_CODE_CANDIDATES`].
    NewEmail(&'a str),
}

/// The due rows a sender claims: not leased (or the lease ran out), due, oldest first.
const CLAIM_DUE: &str = concat!(
    "UPDATE mail_outbox SET lease_until = $2 WHERE id IN (\
     SELECT id FROM mail_outbox WHERE next_attempt_at <= $1 \
     AND (lease_until IS NULL OR lease_until <= $1) \
     ORDER BY next_attempt_at, id LIMIT $3) \
     AND (lease_until IS NULL OR lease_until <= $1) RETURNING ",
    outbox_columns!()
);

/// [`CLAIM_DUE`] on PostgreSQL: rows another server is claiming are skipped, not waited for.
const CLAIM_DUE_PG: &str = concat!(
    "UPDATE mail_outbox SET lease_until = $2 WHERE id IN (\
     SELECT id FROM mail_outbox WHERE next_attempt_at <= $1 \
     AND (lease_until IS NULL OR lease_until <= $1) \
     ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     AND (lease_until IS NULL OR lease_until <= $1) RETURNING ",
    outbox_columns!()
);

/// Counts one attempt on the user's newest unexpired token of a purpose, unless it has had
/// `$4` already.
const ATTEMPT_BY_USER: &str = concat!(
    "UPDATE account_tokens SET attempts = attempts + 1 WHERE id = (\
     SELECT id FROM account_tokens WHERE purpose = $1 AND user_id = $2 AND expires_at > $3 \
     ORDER BY id DESC LIMIT 1) AND attempts < $4 AND expires_at > $3 RETURNING ",
    token_columns!()
);

/// Counts one attempt on each unexpired token of a purpose going to an address that has
/// had fewer than `$4`, the newest `$5` of them.
const ATTEMPT_BY_NEW_EMAIL: &str = concat!(
    "UPDATE account_tokens SET attempts = attempts + 1 WHERE id IN (\
     SELECT id FROM account_tokens WHERE purpose = $1 AND new_email = $2 AND expires_at > $3 \
     AND attempts < $4 ORDER BY id DESC LIMIT $5) AND attempts < $4 AND expires_at > $3 \
     RETURNING ",
    token_columns!()
);

impl Store {
    /// Queues `mail`, due at `now`, unless the outbox already holds `limit` rows: the check
    /// and the insert are one statement. Returns the new row's id, `None` when the outbox is
    /// full. (On PostgreSQL, enqueues running at the same instant may pass the limit by as
    /// many rows as there are of them.)
    ///
    /// # Errors
    /// The database error.
    pub async fn enqueue_mail(
        &self,
        mail: &NewMail<'_>,
        now: Timestamp,
        limit: u64,
    ) -> Result<Option<i64>> {
        let detail = mail.detail.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let row: Option<(i64,)> = db!(write self, Retry::NotApplied, |pool| {
            sqlx::query_as(
                "INSERT INTO mail_outbox (kind, recipient, user_id, detail, next_attempt_at, created_at) \
                 SELECT $1, $2, $3, $4, $5, $5 \
                 WHERE (SELECT COUNT(*) FROM mail_outbox) < $6 RETURNING id",
            )
            .bind(mail.kind)
            .bind(mail.recipient)
            .bind(mail.user_id)
            .bind(&detail)
            .bind(now)
            .bind(limit)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(id,)| id))
    }

    /// Claims at most `max` mails due at `now` for one sender, until `lease_until`: no other
    /// claim gets them before then, on any server. Oldest due first.
    ///
    /// # Errors
    /// The database error.
    pub async fn claim_due_mail(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        max: i64,
    ) -> Result<Vec<OutboxMail>> {
        let mut claimed = db!(write self, Retry::NotApplied, |pool, engine| {
            sqlx::query_as::<_, OutboxMail>(engine.pick(CLAIM_DUE, CLAIM_DUE_PG))
                .bind(now)
                .bind(lease_until)
                .bind(max)
                .fetch_all(pool)
                .await
        })?;
        claimed.sort_by_key(|mail| (mail.next_attempt_at, mail.id));
        Ok(claimed)
    }

    /// A claimed mail that was sent (or given up): its row is deleted, if the claim still
    /// holds it (`lease_until` as claimed). `false` when another sender took it over.
    ///
    /// # Errors
    /// The database error.
    pub async fn finish_mail(&self, id: i64, lease_until: Timestamp) -> Result<bool> {
        let sql = "DELETE FROM mail_outbox WHERE id = $1 AND lease_until = $2";
        Ok(changed_rows!(self, sql, id, lease_until)? > 0)
    }

    /// A claimed mail whose send failed: one more attempt counted, due again at `next`, the
    /// lease released, `error` kept. `false` when another sender took it over.
    ///
    /// # Errors
    /// The database error.
    pub async fn retry_mail(
        &self,
        id: i64,
        lease_until: Timestamp,
        next: Timestamp,
        error: &str,
    ) -> Result<bool> {
        let sql = "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $3, \
                   lease_until = NULL, last_error = $4 WHERE id = $1 AND lease_until = $2";
        Ok(changed_rows!(self, sql, id, lease_until, next, error)? > 0)
    }

    /// Every mail in the outbox, oldest first (the command line, tests).
    ///
    /// # Errors
    /// The database error.
    pub async fn outbox(&self) -> Result<Vec<OutboxMail>> {
        let sql = concat!(
            "SELECT ",
            outbox_columns!(),
            " FROM mail_outbox ORDER BY id"
        );
        fetch!(self, fetch_all, OutboxMail, sql)
    }

    /// Stores a token for `new.user_id` and deletes their older tokens of the same purpose
    /// (only the newest mail works), in one transaction. `code_hash` gives the hash of the
    /// token's code from the new row's id. Returns the stored token. On PostgreSQL the
    /// transaction first locks the user's row, so that of concurrent mints for one user
    /// the later deletes the earlier's token: one stays.
    ///
    /// # Errors
    /// The database error (a duplicate token hash included, which a random 256-bit token
    /// never produces; a user deleted meanwhile fails the foreign key).
    pub async fn mint_account_token(
        &self,
        new: &NewAccountToken<'_>,
        code_hash: &(dyn Fn(i64) -> String + Sync),
    ) -> Result<AccountToken> {
        db!(write self, Retry::NotApplied, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            sqlx::query(engine.pick(
                "SELECT id FROM users WHERE id = $1",
                "SELECT id FROM users WHERE id = $1 FOR UPDATE",
            ))
            .bind(new.user_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2")
                .bind(new.user_id)
                .bind(new.purpose)
                .execute(&mut *tx)
                .await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO account_tokens (purpose, user_id, token_hash, code_hash, binding, \
                 new_email, created_at, expires_at) VALUES ($1, $2, $3, '', $4, $5, $6, $7) \
                 RETURNING id",
            )
            .bind(new.purpose)
            .bind(new.user_id)
            .bind(new.token_hash)
            .bind(new.binding)
            .bind(new.new_email)
            .bind(new.now)
            .bind(new.expires_at)
            .fetch_one(&mut *tx)
            .await?;
            let token = sqlx::query_as::<_, AccountToken>(concat!(
                "UPDATE account_tokens SET code_hash = $2 WHERE id = $1 RETURNING ",
                token_columns!()
            ))
            .bind(id)
            .bind(code_hash(id))
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(token)
        }
        .await)
    }

    /// Consumes the unexpired token of `purpose` whose hash is `token_hash`, in one
    /// conditional `DELETE … RETURNING`: `Some` for the single winner; `None` for an unknown,
    /// used or expired one.
    ///
    /// # Errors
    /// The database error. A retry after a lost connection may find the row already deleted
    /// by the first run and answer `None`: a token is never accepted twice.
    pub async fn redeem_account_token(
        &self,
        purpose: &str,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<AccountToken>> {
        if token_hash.len() > MAX_HASH_CHARS {
            return Ok(None);
        }
        let sql = concat!(
            "DELETE FROM account_tokens WHERE token_hash = $1 AND purpose = $2 \
             AND expires_at > $3 RETURNING ",
            token_columns!()
        );
        fetch!(write self, fetch_optional, AccountToken, sql, token_hash, purpose, now)
    }

    /// The unexpired token of `purpose` whose hash is `token_hash`, left in place (a reset
    /// form checks the new password before the token is consumed with
    /// [`Store::consume_account_token`]).
    ///
    /// # Errors
    /// The database error.
    pub async fn find_account_token(
        &self,
        purpose: &str,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<AccountToken>> {
        if token_hash.len() > MAX_HASH_CHARS {
            return Ok(None);
        }
        let sql = concat!(
            "SELECT ",
            token_columns!(),
            " FROM account_tokens WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3"
        );
        fetch!(
            self,
            fetch_optional,
            AccountToken,
            sql,
            token_hash,
            purpose,
            now
        )
    }

    /// Counts one code attempt on the tokens of `purpose` that `owner` names and returns
    /// them (with the attempt counted), newest first: the user's newest unexpired token,
    /// unless it has had `max_attempts` already; or each unexpired token going to the new
    /// address that has had fewer (at most [`MAX_CODE_CANDIDATES`]). Empty when there is
    /// none. The caller compares the code with each, then consumes the matching one with
    /// [`Store::consume_account_token`], and disables the code of a token whose last
    /// attempt this was with [`Store::disable_account_code`].
    ///
    /// # Errors
    /// The database error.
    pub async fn attempt_account_code(
        &self,
        purpose: &str,
        owner: CodeOwner<'_>,
        now: Timestamp,
        max_attempts: i64,
    ) -> Result<Vec<AccountToken>> {
        // Retried only when not applied: a second run would count the attempt twice.
        let mut tried = db!(write self, Retry::NotApplied, |pool| {
            match owner {
                CodeOwner::User(user_id) => sqlx::query_as::<_, AccountToken>(ATTEMPT_BY_USER)
                    .bind(purpose)
                    .bind(user_id)
                    .bind(now)
                    .bind(max_attempts)
                    .fetch_all(pool)
                    .await,
                CodeOwner::NewEmail(email) => {
                    sqlx::query_as::<_, AccountToken>(ATTEMPT_BY_NEW_EMAIL)
                        .bind(purpose)
                        .bind(normalize_email(email))
                        .bind(now)
                        .bind(max_attempts)
                        .bind(MAX_CODE_CANDIDATES)
                        .fetch_all(pool)
                        .await
                }
            }
        })?;
        tried.sort_by_key(|token| std::cmp::Reverse(token.id));
        Ok(tried)
    }

    /// Disables the code of the token `id` (its last code attempt failed): no code matches
    /// it any more; its link still works until it expires.
    ///
    /// # Errors
    /// The database error.
    pub async fn disable_account_code(&self, id: i64) -> Result<bool> {
        let sql = "UPDATE account_tokens SET code_hash = '' WHERE id = $1";
        Ok(changed_rows!(self, sql, id)? > 0)
    }

    /// Consumes the token `id` if it has not expired at `now`, in one conditional
    /// `DELETE … RETURNING` (a matching code): `Some` for the single winner.
    ///
    /// # Errors
    /// The database error.
    pub async fn consume_account_token(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<AccountToken>> {
        let sql = concat!(
            "DELETE FROM account_tokens WHERE id = $1 AND expires_at > $2 RETURNING ",
            token_columns!()
        );
        fetch!(write self, fetch_optional, AccountToken, sql, id, now)
    }

    /// Deletes the token `id` (its mail was not sent, or it no longer matches its user).
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_account_token(&self, id: i64) -> Result<bool> {
        Ok(changed_rows!(self, "DELETE FROM account_tokens WHERE id = $1", id)? > 0)
    }

    /// Deletes every token of `purpose` of the user; returns how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_account_tokens(&self, user_id: i64, purpose: &str) -> Result<u64> {
        changed_rows!(
            self,
            "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2",
            user_id,
            purpose
        )
    }

    /// The tokens of a user, oldest first (tests, the command line).
    ///
    /// # Errors
    /// The database error.
    pub async fn account_tokens_of(&self, user_id: i64) -> Result<Vec<AccountToken>> {
        let sql = concat!(
            "SELECT ",
            token_columns!(),
            " FROM account_tokens WHERE user_id = $1 ORDER BY id"
        );
        fetch!(self, fetch_all, AccountToken, sql, user_id)
    }

    /// Deletes the tokens that expired at or before `before`; returns how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn flush_expired_account_tokens(&self, before: Timestamp) -> Result<u64> {
        changed_rows!(
            self,
            "DELETE FROM account_tokens WHERE expires_at <= $1",
            before
        )
    }

    /// Marks the user's address verified (or not). `false` without such a user.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_email_verified(&self, id: i64, verified: bool) -> Result<bool> {
        let sql = "UPDATE users SET email_verified = $2 WHERE id = $1";
        Ok(self.counted(changed_rows!(self, sql, id, verified))? > 0)
    }

    /// Marks the user's address verified if it is still `email`, the one a mail proved:
    /// `false` when it changed meanwhile (or there is no such user).
    ///
    /// # Errors
    /// The database error.
    pub async fn mark_email_proved(&self, id: i64, email: &str) -> Result<bool> {
        let sql = "UPDATE users SET email_verified = TRUE WHERE id = $1 AND email = $2";
        Ok(self.counted(changed_rows!(self, sql, id, email))? > 0)
    }

    /// Ends the user's pending e-mail changes: deletes their `email_change` tokens and
    /// their queued `email_change_confirm` mails, in one transaction (a password change or
    /// reset). Returns how many tokens and mails went.
    ///
    /// # Errors
    /// The database error.
    pub async fn cancel_email_changes(&self, user_id: i64) -> Result<u64> {
        db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let tokens = sqlx::query(
                "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = 'email_change'",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let mails = sqlx::query(
                "DELETE FROM mail_outbox WHERE user_id = $1 AND kind = 'email_change_confirm'",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(tokens + mails)
        }
        .await)
    }

    /// Changes the user's address from `from` to `to` (normalized), marks it verified, and
    /// deletes every account token of theirs (each was bound to the old address), in one
    /// transaction. `None` when there is no such user or their address is no longer `from`.
    ///
    /// # Errors
    /// [`StoreError::DuplicateEmail`] when `to` belongs to someone else; the database error
    /// otherwise.
    pub async fn change_email(&self, id: i64, from: &str, to: &str) -> Result<Option<User>> {
        let to = normalize_email(to);
        // Not repeated after a lost connection: a second run would find the address
        // already changed and answer `None` for a change that happened.
        let changed = db!(write self, Retry::NotApplied, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let changed = sqlx::query(
                "UPDATE users SET email = $3, email_verified = TRUE WHERE id = $1 AND email = $2",
            )
            .bind(id)
            .bind(from)
            .bind(&to)
            .execute(&mut *tx)
            .await
            .map_err(map_user_write_error)?;
            if changed.rows_affected() == 0 {
                return Ok(None);
            }
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let user = sqlx::query_as::<_, User>(USER_BY_ID)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(user)
        }
        .await);
        self.counted(changed)
    }
}
