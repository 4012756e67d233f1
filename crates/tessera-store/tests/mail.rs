//! The account flows' storage: the outbox (bounded, claimed with a lease, retried,
//! finished), account tokens (newest only, single use, code attempts counted before they
//! are compared) and the verified address.

mod common;

use std::collections::BTreeSet;

use common::{NOW, user};
use serde_json::json;
use tessera_store::testing::TestDatabase;
use tessera_store::{
    CodeOwner, MAX_CODE_CANDIDATES, NewAccountToken, NewMail, StoreError, UserUpdate, engine_tests,
};

/// One hour, in microseconds.
const HOUR: i64 = 3_600_000_000;

fn mail<'a>(recipient: &'a str, detail: &'a serde_json::Value) -> NewMail<'a> {
    NewMail {
        kind: "password_reset",
        recipient,
        user_id: None,
        detail,
    }
}

fn token<'a>(purpose: &'a str, user_id: i64, hash: &'a str) -> NewAccountToken<'a> {
    NewAccountToken {
        purpose,
        user_id,
        token_hash: hash,
        binding: "b",
        new_email: None,
        now: NOW,
        expires_at: NOW.add_micros(HOUR),
    }
}

fn code_of(id: i64) -> String {
    format!("code-of-{id}")
}

engine_tests! {
    /// Enqueueing stops at the limit; the row keeps what was queued.
    async fn the_outbox_is_bounded(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let detail = json!({"a": 1});
        let first = NewMail { user_id: Some(ada.id), ..mail("ada@example.com", &detail) };
        assert!(store.enqueue_mail(&first, NOW, 2).await.unwrap().is_some());
        assert!(store.enqueue_mail(&mail("x@example.com", &detail), NOW, 2).await.unwrap().is_some());
        assert_eq!(store.enqueue_mail(&mail("y@example.com", &detail), NOW, 2).await.unwrap(), None);
        let queued = store.outbox().await.unwrap();
        assert_eq!(queued.len(), 2);
        assert_eq!(queued[0].user_id, Some(ada.id));
        assert_eq!(queued[0].recipient, "ada@example.com");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&queued[0].detail).unwrap(), detail);
        assert_eq!((queued[0].attempts, queued[0].next_attempt_at, queued[0].lease_until), (0, NOW, None));
    }

    /// A claim takes due rows once until its lease runs out; a retry releases the row for
    /// later, a finish deletes it, and a lapsed claim can no longer finish.
    async fn claims_lease_rows_and_retries_reschedule_them(db: &TestDatabase) {
        let store = db.store().await;
        let detail = json!({});
        let a = store.enqueue_mail(&mail("a@example.com", &detail), NOW, 10).await.unwrap().unwrap();
        let b = store.enqueue_mail(&mail("b@example.com", &detail), NOW.add_micros(HOUR), 10).await.unwrap().unwrap();
        let lease = NOW.add_micros(60_000_000);
        let claimed = store.claim_due_mail(NOW, lease, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a], "b is not due");
        assert!(store.claim_due_mail(NOW, lease, 10).await.unwrap().is_empty(), "leased");
        assert!(store.retry_mail(a, lease, NOW.add_micros(30_000_000), "451 try later").await.unwrap());
        assert!(store.claim_due_mail(NOW.add_micros(1), lease, 10).await.unwrap().is_empty());
        let later = NOW.add_micros(HOUR);
        let lease2 = later.add_micros(60_000_000);
        let again = store.claim_due_mail(later, lease2, 10).await.unwrap();
        assert_eq!(again.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!((again[0].attempts, again[0].last_error.as_deref()), (1, Some("451 try later")));
        assert!(!store.finish_mail(a, lease).await.unwrap(), "an old lease no longer holds it");
        // The lease runs out: another sender takes it over, and the first cannot finish it.
        let taken = store.claim_due_mail(lease2, lease2.add_micros(60_000_000), 10).await.unwrap();
        assert_eq!(taken.len(), 2);
        assert!(!store.finish_mail(a, lease2).await.unwrap());
        assert!(store.finish_mail(a, lease2.add_micros(60_000_000)).await.unwrap());
        assert_eq!(store.outbox().await.unwrap().len(), 1);
    }

    /// Claimers running at once never get the same row.
    async fn concurrent_claimers_get_disjoint_rows(db: &TestDatabase) {
        let store = db.store().await;
        let detail = json!({});
        for i in 0..40 {
            let to = format!("u{i}@example.com");
            store.enqueue_mail(&mail(&to, &detail), NOW, 100).await.unwrap();
        }
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.claim_due_mail(NOW, NOW.add_micros(60_000_000), 7).await.unwrap()
                })
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut total = 0;
        for task in tasks {
            for claimed in task.await.unwrap() {
                total += 1;
                assert!(seen.insert(claimed.id), "row {} claimed twice", claimed.id);
            }
        }
        assert_eq!(total, seen.len());
        assert!(total <= 40);
        assert!(total >= 7, "at least one claimer got a full batch");
    }

    /// Minting replaces the user's older token of the purpose, and only that purpose; the
    /// code hash is made from the row id.
    async fn only_the_newest_token_of_a_purpose_stays(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let first = store.mint_account_token(&token("password_reset", ada.id, "h1"), &code_of).await.unwrap();
        assert_eq!(first.code_hash, code_of(first.id));
        store.mint_account_token(&token("verify_email", ada.id, "v1"), &code_of).await.unwrap();
        let second = store.mint_account_token(&token("password_reset", ada.id, "h2"), &code_of).await.unwrap();
        let kept: Vec<_> = store.account_tokens_of(ada.id).await.unwrap().into_iter().map(|t| t.token_hash).collect();
        assert_eq!(kept, vec!["v1".to_owned(), "h2".to_owned()]);
        assert_eq!(store.redeem_account_token("password_reset", "h1", NOW).await.unwrap(), None);
        let redeemed = store.redeem_account_token("password_reset", "h2", NOW).await.unwrap();
        assert_eq!(redeemed, Some(second));
        assert_eq!(store.redeem_account_token("password_reset", "h2", NOW).await.unwrap(), None, "single use");
        assert_eq!(store.redeem_account_token("password_reset", "v1", NOW).await.unwrap(), None, "another purpose");
        assert_eq!(store.redeem_account_token("verify_email", &"x".repeat(10_000), NOW).await.unwrap(), None);
    }

    /// Twenty redemptions of one token at once: exactly one wins.
    async fn concurrent_redemptions_of_a_token_have_one_winner(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        store.mint_account_token(&token("password_reset", ada.id, "shared"), &code_of).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.redeem_account_token("password_reset", "shared", NOW).await.unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            winners += usize::from(task.await.unwrap().is_some());
        }
        assert_eq!(winners, 1);
    }

    /// Code attempts are counted before the code is compared: after the limit, none is
    /// handed out, even to many at once.
    async fn code_attempts_are_bounded(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let minted = store.mint_account_token(&token("login_code", ada.id, "c"), &code_of).await.unwrap();
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.attempt_account_code("login_code", CodeOwner::User(ada.id), NOW, 5).await.unwrap()
                })
            })
            .collect();
        let mut attempts = BTreeSet::new();
        for task in tasks {
            for tried in task.await.unwrap() {
                assert_eq!(tried.id, minted.id);
                attempts.insert(tried.attempts);
            }
        }
        assert_eq!(attempts, (1..=5).collect());
        assert!(store.attempt_account_code("login_code", CodeOwner::User(ada.id), NOW, 5).await.unwrap().is_empty());
        // The last wrong code disables the code; the row (and its link) stays.
        assert!(store.disable_account_code(minted.id).await.unwrap());
        let kept = store.account_tokens_of(ada.id).await.unwrap();
        assert_eq!((kept[0].code_hash.as_str(), kept[0].token_hash.as_str()), ("", "c"));
        assert!(store.redeem_account_token("login_code", "c", NOW).await.unwrap().is_some());
    }

    /// A code is tried against the newest unexpired token, by user or by the new address;
    /// a matching one is consumed once.
    async fn codes_find_their_token_and_are_consumed_once(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let change = NewAccountToken { new_email: Some("new@example.com"), ..token("email_change", ada.id, "e") };
        let minted = store.mint_account_token(&change, &code_of).await.unwrap();
        let by_address = CodeOwner::NewEmail("new@EXAMPLE.com");
        let tried = store.attempt_account_code("email_change", by_address, NOW, 5).await.unwrap();
        assert_eq!(tried.iter().map(|t| (t.id, t.attempts)).collect::<Vec<_>>(), [(minted.id, 1)]);
        assert!(store.attempt_account_code("email_change", CodeOwner::NewEmail("other@example.com"), NOW, 5).await.unwrap().is_empty());
        assert!(store.attempt_account_code("login_code", CodeOwner::User(ada.id), NOW, 5).await.unwrap().is_empty());
        let expired = NOW.add_micros(HOUR);
        assert!(store.attempt_account_code("email_change", by_address, expired, 5).await.unwrap().is_empty());
        assert!(store.consume_account_token(minted.id, expired).await.unwrap().is_none(), "expired");
        assert!(store.consume_account_token(minted.id, NOW).await.unwrap().is_some());
        assert!(store.consume_account_token(minted.id, NOW).await.unwrap().is_none());
    }

    /// A code for a new address is tried against every live token going there (several
    /// users may ask for one address), newest first and bounded, each attempt counted on
    /// each; a token out of attempts is left out.
    async fn a_new_address_code_is_tried_against_every_token_going_there(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        fn change(user_id: i64, hash: &str) -> NewAccountToken<'_> {
            NewAccountToken { new_email: Some("new@example.com"), ..token("email_change", user_id, hash) }
        }
        let adas = store.mint_account_token(&change(ada.id, "a"), &code_of).await.unwrap();
        let bobs = store.mint_account_token(&change(bob.id, "b"), &code_of).await.unwrap();
        let by_address = CodeOwner::NewEmail("new@example.com");
        let tried = store.attempt_account_code("email_change", by_address, NOW, 2).await.unwrap();
        assert_eq!(tried.iter().map(|t| (t.id, t.attempts)).collect::<Vec<_>>(), [(bobs.id, 1), (adas.id, 1)]);
        store.attempt_account_code("email_change", CodeOwner::User(bob.id), NOW, 2).await.unwrap();
        let tried = store.attempt_account_code("email_change", by_address, NOW, 2).await.unwrap();
        assert_eq!(tried.iter().map(|t| (t.id, t.attempts)).collect::<Vec<_>>(), [(adas.id, 2)], "bob's had its two");

        let mut users = Vec::new();
        for i in 0..MAX_CODE_CANDIDATES + 2 {
            let other = user(&store, &format!("u{i}@example.com")).await;
            let hash = format!("u{i}");
            store.mint_account_token(&change(other.id, &hash), &code_of).await.unwrap();
            users.push(other.id);
        }
        let tried = store.attempt_account_code("email_change", by_address, NOW, 5).await.unwrap();
        assert_eq!(tried.len(), usize::try_from(MAX_CODE_CANDIDATES).unwrap());
        assert_eq!(tried[0].user_id, *users.last().unwrap(), "newest first");
    }

    /// Concurrent mints for one user leave exactly one live token of the purpose (on
    /// PostgreSQL the user's row is locked first).
    async fn concurrent_mints_leave_one_token(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        for round in 0..5 {
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let hash = format!("r{round}-{i}");
                        store.mint_account_token(&token("password_reset", ada.id, &hash), &code_of).await.unwrap()
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            assert_eq!(store.account_tokens_of(ada.id).await.unwrap().len(), 1, "round {round}");
        }
    }

    /// Only the address a mail proved is marked verified: not one it changed to since.
    async fn only_the_proved_address_is_marked_verified(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        assert!(!store.mark_email_proved(ada.id, "old@example.com").await.unwrap());
        assert!(!store.user_by_id(ada.id).await.unwrap().unwrap().email_verified);
        assert!(store.mark_email_proved(ada.id, "ada@example.com").await.unwrap());
        assert!(store.user_by_id(ada.id).await.unwrap().unwrap().email_verified);
    }

    /// A profile update that changes the address clears the verified flag (unless it sets
    /// it) and deletes the user's tokens; one that keeps the address keeps both.
    async fn a_changed_address_is_not_verified(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        store.set_email_verified(ada.id, true).await.unwrap();
        store.mint_account_token(&token("verify_email", ada.id, "v"), &code_of).await.unwrap();
        let same = UserUpdate { email: Some("ada@EXAMPLE.com".into()), first_name: Some("A".into()), ..UserUpdate::default() };
        let kept = store.update_user(ada.id, &same).await.unwrap().unwrap();
        assert!(kept.email_verified);
        assert_eq!(store.account_tokens_of(ada.id).await.unwrap().len(), 1);
        let moved = UserUpdate { email: Some("ada@new.example.com".into()), ..UserUpdate::default() };
        let changed = store.update_user(ada.id, &moved).await.unwrap().unwrap();
        assert_eq!((changed.email.as_str(), changed.email_verified), ("ada@new.example.com", false));
        assert!(store.account_tokens_of(ada.id).await.unwrap().is_empty());
        let vouched = UserUpdate { email: Some("ada3@example.com".into()), email_verified: Some(true), ..UserUpdate::default() };
        assert!(store.update_user(ada.id, &vouched).await.unwrap().unwrap().email_verified);
        let unverify = UserUpdate { email_verified: Some(false), ..UserUpdate::default() };
        assert!(!store.update_user(ada.id, &unverify).await.unwrap().unwrap().email_verified);
    }

    /// Ending a user's pending e-mail changes deletes their change tokens and queued
    /// confirmations, and nothing else.
    async fn pending_email_changes_can_be_ended(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        let change = NewAccountToken { new_email: Some("new@example.com"), ..token("email_change", ada.id, "e") };
        store.mint_account_token(&change, &code_of).await.unwrap();
        store.mint_account_token(&token("verify_email", ada.id, "v"), &code_of).await.unwrap();
        let detail = json!({});
        for (kind, user_id) in [("email_change_confirm", ada.id), ("email_change_notice", ada.id), ("email_change_confirm", bob.id)] {
            let queued = NewMail { kind, user_id: Some(user_id), ..mail("x@example.com", &detail) };
            store.enqueue_mail(&queued, NOW, 10).await.unwrap();
        }
        assert_eq!(store.cancel_email_changes(ada.id).await.unwrap(), 2);
        let tokens: Vec<_> = store.account_tokens_of(ada.id).await.unwrap().into_iter().map(|t| t.purpose).collect();
        assert_eq!(tokens, ["verify_email"]);
        let left: Vec<_> = store.outbox().await.unwrap().into_iter().map(|m| (m.kind, m.user_id)).collect();
        assert_eq!(left, [("email_change_notice".to_owned(), Some(ada.id)), ("email_change_confirm".to_owned(), Some(bob.id))]);
    }

    /// Expired tokens are refused and flushed; a user's tokens go with them.
    async fn expired_tokens_are_flushed_and_tokens_go_with_their_user(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        store.mint_account_token(&token("password_reset", ada.id, "a"), &code_of).await.unwrap();
        let long = NewAccountToken { expires_at: NOW.add_micros(3 * HOUR), ..token("verify_email", ada.id, "b") };
        store.mint_account_token(&long, &code_of).await.unwrap();
        store.mint_account_token(&token("login_code", bob.id, "c"), &code_of).await.unwrap();
        let expiry = NOW.add_micros(HOUR);
        assert_eq!(store.redeem_account_token("password_reset", "a", expiry).await.unwrap(), None);
        assert_eq!(store.flush_expired_account_tokens(expiry).await.unwrap(), 2);
        assert_eq!(store.flush_expired_account_tokens(expiry).await.unwrap(), 0);
        assert_eq!(store.delete_account_tokens(ada.id, "verify_email").await.unwrap(), 1);
        store.mint_account_token(&token("login_code", bob.id, "d"), &code_of).await.unwrap();
        let detail = json!({});
        let queued = NewMail { user_id: Some(bob.id), ..mail("bob@example.com", &detail) };
        store.enqueue_mail(&queued, NOW, 10).await.unwrap();
        assert!(store.delete_user(bob.id).await.unwrap());
        assert!(store.account_tokens_of(bob.id).await.unwrap().is_empty());
        assert!(store.outbox().await.unwrap().is_empty());
    }

    /// The verified flag, and an address change: verified, every token gone, refused when
    /// the address moved meanwhile or belongs to someone else.
    async fn verified_addresses_and_address_changes(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        user(&store, "bob@example.com").await;
        assert!(!ada.email_verified);
        assert!(store.set_email_verified(ada.id, true).await.unwrap());
        assert!(store.user_by_id(ada.id).await.unwrap().unwrap().email_verified);
        assert!(store.set_email_verified(ada.id, false).await.unwrap());
        assert!(!store.set_email_verified(ada.id + 100, true).await.unwrap());
        store.mint_account_token(&token("verify_email", ada.id, "v"), &code_of).await.unwrap();
        assert!(matches!(
            store.change_email(ada.id, "ada@example.com", "bob@example.com").await,
            Err(StoreError::DuplicateEmail)
        ));
        assert_eq!(store.change_email(ada.id, "old@example.com", "ada2@example.com").await.unwrap(), None);
        let changed = store.change_email(ada.id, "ada@example.com", "Ada2@EXAMPLE.com").await.unwrap().unwrap();
        assert_eq!((changed.email.as_str(), changed.email_verified), ("Ada2@example.com", true));
        assert!(store.account_tokens_of(ada.id).await.unwrap().is_empty());
    }
}
