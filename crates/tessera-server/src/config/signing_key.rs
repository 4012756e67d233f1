//! The signing key of a debug server that was given none: generated once, kept in the data
//! directory (readable by its owner only), and read again at every start.

use std::path::{Path, PathBuf};

use tessera_core::{Algorithm, KeyOrigin, Secret};

use super::{Config, ConfigError};

impl Config {
    /// Where a generated signing key is kept: `signing_key` (an HMAC secret), or
    /// `signing_key.<ALG>.pem` for an asymmetric algorithm.
    pub fn signing_key_file(&self) -> PathBuf {
        let alg = self.jwt.algorithm;
        if alg.is_hmac() {
            self.data_dir.join("signing_key")
        } else {
            self.data_dir.join(format!("signing_key.{alg}.pem"))
        }
    }

    /// Uses the configured signing key, or (in debug mode only) one generated once and kept
    /// in the data directory. Returns whether a generated key is in use.
    pub fn ensure_signing_key(&mut self) -> Result<bool, ConfigError> {
        if self.jwt.signing_key.is_some()
            || self.jwt.signing_key_file.is_some()
            || self.jwt.key_source == KeyOrigin::Store
        {
            return Ok(false);
        }
        if !self.debug {
            return Err(ConfigError(
                "refusing to start in production mode (debug = false): no signing key is configured; \
                 set TESSERA_SIGNING_KEY to a random secret, e.g. `openssl rand -base64 64`"
                    .into(),
            ));
        }
        let path = self.signing_key_file();
        let key = match std::fs::read_to_string(&path) {
            Ok(key) if !key.trim().is_empty() => key.trim().to_owned(),
            Ok(_) => {
                return Err(ConfigError(format!(
                    "{} is empty; delete it to generate a new key",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_new_key(&path, self.jwt.algorithm)?
            }
            Err(e) => return Err(ConfigError(format!("{}: {e}", path.display()))),
        };
        self.jwt.signing_key = Some(Secret::from(key));
        Ok(true)
    }
}

impl Config {
    /// Where a generated API key secret is kept: `api_key_secret` in the data directory.
    pub fn api_key_secret_file(&self) -> PathBuf {
        self.data_dir.join("api_key_secret")
    }

    /// In debug mode with nothing to derive the HMAC key of API keys from — no
    /// `api_key_secret`, no `key_encryption_key`, no configured signing key (`key_source =
    /// "store"`) — uses one generated once and kept in the data directory, as for the signing
    /// key. Returns whether a generated secret is in use.
    pub fn ensure_api_key_secret(&mut self) -> Result<bool, ConfigError> {
        if !self.debug
            || self.api_keys.api_key_secret.is_some()
            || self.jwt.key_encryption_key.is_some()
            || self.jwt.signing_key.is_some()
            || self.jwt.signing_key_file.is_some()
        {
            return Ok(false);
        }
        let path = self.api_key_secret_file();
        let secret = match std::fs::read_to_string(&path) {
            Ok(secret) if !secret.trim().is_empty() => secret.trim().to_owned(),
            Ok(_) => {
                return Err(ConfigError(format!(
                    "{} is empty; delete it to generate a new secret (every API key made \
                     under the old one stops working)",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_new_key(&path, Algorithm::HS512)?
            }
            Err(e) => return Err(ConfigError(format!("{}: {e}", path.display()))),
        };
        self.api_keys.api_key_secret = Some(Secret::from(secret));
        Ok(true)
    }
}

/// Writes a new key for `algorithm` to `path`, which must not exist yet (mode 0600 on Unix),
/// and returns it: [`tessera_core::generate_private_key`]'s text as it is, 64 random bytes in
/// base64url for HMAC, else a PKCS#8 PEM key.
fn write_new_key(path: &Path, algorithm: Algorithm) -> Result<String, ConfigError> {
    let key = tessera_core::generate_private_key(algorithm)
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    let key = key.expose().to_owned();
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(|e| ConfigError(format!("{}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    std::io::Write::write_all(&mut file, key.as_bytes())
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    Ok(key)
}

/// Creates `dir` and its missing parents; on Unix the directories made here are readable by
/// their owner only (0700), while one that exists is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the empty file `path` if it does not exist (mode 0600 on Unix), so that SQLite —
/// which gives its `-wal` and `-shm` files the database file's mode — keeps every file of
/// the database readable by its owner only. Returns whether the file was created.
pub(crate) fn create_private_file(path: &Path) -> std::io::Result<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_mode_generates_a_key_once_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        assert!(first.ensure_signing_key().unwrap());
        let mut second = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        second.ensure_signing_key().unwrap();
        let key = first.jwt.signing_key.clone().unwrap();
        assert_eq!(Some(key.clone()), second.jwt.signing_key);
        assert!(key.expose().len() >= 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(first.signing_key_file())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn debug_mode_with_store_kept_keys_generates_an_api_key_secret_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = || {
            let mut config = Config {
                data_dir: dir.path().join("data"),
                ..Config::default()
            };
            config.jwt.key_source = KeyOrigin::Store;
            config
        };
        let (mut first, mut second) = (config(), config());
        assert!(first.ensure_api_key_secret().unwrap());
        assert!(second.ensure_api_key_secret().unwrap());
        let secret = first.api_keys.api_key_secret.clone().unwrap();
        assert_eq!(Some(secret.clone()), second.api_keys.api_key_secret);
        assert!(secret.expose().len() >= 64);

        // Not with anything to derive it from, nor in production.
        let mut kek = config();
        kek.jwt.key_encryption_key = Some("k".repeat(32).into());
        assert!(!kek.ensure_api_key_secret().unwrap());
        let mut production = config();
        production.debug = false;
        assert!(!production.ensure_api_key_secret().unwrap());
        assert_eq!(production.api_keys.api_key_secret, None);
    }

    #[test]
    fn a_generated_key_is_a_base64url_secret_for_hmac_and_a_pem_file_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let mut hmac = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        assert!(hmac.ensure_signing_key().unwrap());
        let text = std::fs::read_to_string(dir.path().join("signing_key")).unwrap();
        // 64 bytes, unpadded base64url, nothing around them.
        assert_eq!(text.len(), 86, "{text}");
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        assert_eq!(
            hmac.jwt.signing_key.as_ref().map(Secret::expose),
            Some(text.as_str())
        );

        let mut ec = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        ec.jwt.algorithm = Algorithm::ES256;
        assert!(ec.ensure_signing_key().unwrap());
        let pem = std::fs::read_to_string(dir.path().join("signing_key.ES256.pem")).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        assert_eq!(
            ec.jwt.signing_key.as_ref().map(Secret::expose),
            Some(pem.as_str())
        );
    }
}
