//! Recovery codes: ten at a time, each `xxxxx-xxxxx` (50 random bits), stored as
//! HMAC-SHA256 keyed with the user's TOTP secret and bound to the user, each usable once.
//! The key lives as long as the device the codes belong to: no server secret (signing key,
//! `api_key_secret`, `key_encryption_key`) changing invalidates them, and a copy of the
//! database alone (the secret sealed) gives no offline search of the 50-bit codes.

use aws_lc_rs::hmac;
use serde_json::{Map, Value, json};
use tessera_core::KeyError;
use tessera_store::User;

use super::{INVALID_CODE, MFA_THROTTLE_SCOPE, NOT_ENABLED, RECOVERY_CODES, read_code};
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::service::Auth;

/// The characters of a code: lower-case letters and digits without `l`, `o`, `0`, `1`.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// The characters of a code, its dash apart.
const CODE_CHARS: usize = 10;

impl Auth {
    /// `POST auth/mfa/recovery-codes/` (`password`): ten new recovery codes for a user with
    /// TOTP on; the earlier ones die. Audited as `mfa.recovery_codes_regenerated`. A wrong
    /// password counts as a failed login. A user without a usable password (a social
    /// account) sends a current TOTP `code` instead (a wrong one audited as `mfa.failed`).
    /// Throttled by `mfa` per user and per client.
    ///
    /// # Errors
    /// `{"password": ["Incorrect password."]}`, `{"code": ["Invalid code."]}`;
    /// [`AuthError::MfaRefused`] when TOTP is off; [`AuthError::Throttled`]; the store's.
    pub async fn regenerate_recovery_codes(
        &self,
        user: &User,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<Vec<String>, AuthError> {
        let by_user = format!("user_{}", user.id);
        self.throttles()
            .check_each(MFA_THROTTLE_SCOPE, &[&by_user, client.ident()])
            .await?;
        // A user without a usable password (a social account) proves themselves with a
        // current TOTP `code` instead.
        let with_password = user.has_usable_password();
        let mut fields = Fields::new(data);
        let (password, code) = if with_password {
            (fields.required("password", Trim::No), None)
        } else {
            (None, read_code(&mut fields, true))
        };
        fields.finish()?;
        if !self.mfa_methods(user).await?.contains(&"totp") {
            return Err(AuthError::MfaRefused(NOT_ENABLED));
        }
        if with_password {
            self.check_password_field(user, &password.unwrap_or_default(), client)
                .await?;
        } else if !self
            .accept_totp_code(user, &code.unwrap_or_default())
            .await?
        {
            self.audit(
                Audit::new(event::MFA_FAILED)
                    .user(user.id)
                    .login_name(self.lockout_name_of(user))
                    .client(client)
                    .detail(json!({"purpose": "recovery_codes"})),
            )
            .await;
            return Err(AuthError::field("code", INVALID_CODE));
        }
        let Some(device) = self
            .store()
            .totp_device(user.id)
            .await?
            .filter(|device| device.is_confirmed())
        else {
            return Err(AuthError::MfaRefused(NOT_ENABLED));
        };
        let (codes, hashes) = self.new_recovery_codes(user, &device.secret)?;
        if !self
            .store()
            .replace_recovery_codes(user.id, self.now(), &hashes)
            .await?
        {
            return Err(AuthError::MfaRefused(NOT_ENABLED));
        }
        self.audit(
            Audit::new(event::MFA_RECOVERY_CODES_REGENERATED)
                .user(user.id)
                .client(client),
        )
        .await;
        Ok(codes)
    }

    /// Ten fresh codes for `user`, and their stored hashes under the device whose stored
    /// secret is `secret`.
    pub(crate) fn new_recovery_codes(
        &self,
        user: &User,
        secret: &str,
    ) -> Result<(Vec<String>, Vec<String>), AuthError> {
        let key = self.recovery_key(user, secret)?;
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        while codes.len() < RECOVERY_CODES {
            let code = random_code()?;
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        let hashes = codes
            .iter()
            .map(|code| recovery_code_hash(&key, user.id, code))
            .collect();
        Ok((codes, hashes))
    }

    /// Uses `code` if it is one of `user`'s unused recovery codes (audited as
    /// `mfa.recovery_code_used` from `client`, with the codes left).
    pub(crate) async fn use_recovery_code(
        &self,
        user: &User,
        code: &str,
        client: &ClientInfo,
    ) -> Result<bool, AuthError> {
        let Some(normal) = normalize(code) else {
            return Ok(false);
        };
        let Some(device) = self
            .store()
            .totp_device(user.id)
            .await?
            .filter(|device| device.is_confirmed())
        else {
            return Ok(false);
        };
        let key = self.recovery_key(user, &device.secret)?;
        let hash = recovery_code_hash(&key, user.id, &normal);
        if !self
            .store()
            .use_recovery_code(user.id, &hash, self.now())
            .await?
        {
            return Ok(false);
        }
        let left = self.store().recovery_codes_left(user.id).await?;
        self.audit(
            Audit::new(event::MFA_RECOVERY_CODE_USED)
                .user(user.id)
                .login_name(self.lockout_name_of(user))
                .client(client)
                .detail(json!({"codes_left": left})),
        )
        .await;
        Ok(true)
    }

    /// The key of `user`'s recovery codes: their device's secret (stored as `secret`).
    fn recovery_key(&self, user: &User, secret: &str) -> Result<hmac::Key, AuthError> {
        let mut bytes = self.totp_secret_bytes(user, secret)?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
        bytes.fill(0);
        Ok(key)
    }
}

/// The stored form of `user_id`'s `code`: HMAC-SHA256 under `key`, lower-case hex.
fn recovery_code_hash(key: &hmac::Key, user_id: i64, code: &str) -> String {
    let input = format!("mfa-recovery:{user_id}:{code}");
    crate::secret::hex(hmac::sign(key, input.as_bytes()).as_ref())
}

/// `xxxxx-xxxxx` from [`ALPHABET`] (32 characters: a byte's low five bits, no bias).
fn random_code() -> Result<String, AuthError> {
    let mut bytes = [0u8; CODE_CHARS];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::new("the random generator failed"))?;
    let mut code = String::with_capacity(CODE_CHARS + 1);
    for (i, byte) in bytes.iter().enumerate() {
        if i == CODE_CHARS / 2 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[usize::from(byte & 31)]));
    }
    Ok(code)
}

/// A typed code in its issued form (lower case, the dash in the middle), or `None` when it
/// cannot be one.
fn normalize(code: &str) -> Option<String> {
    let plain: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if plain.len() != CODE_CHARS || !plain.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!(
        "{}-{}",
        &plain[..CODE_CHARS / 2],
        &plain[CODE_CHARS / 2..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_characters_of_the_alphabet_with_a_dash() {
        let code = random_code().unwrap();
        assert_eq!(code.len(), 11);
        assert_eq!(normalize(&code).as_deref(), Some(code.as_str()));
        assert_eq!(
            normalize(&code.to_uppercase().replace('-', " ")),
            Some(code)
        );
        assert_eq!(normalize("abcde-fghi0"), None);
        assert_eq!(normalize("123456"), None);
    }
}
