//! Key files: the core does no I/O, so `signing_key_file` and `verifying_key_file` are read
//! here, once, before the token backend is built.

use tessera_core::{Secret, Settings, SettingsError};

/// Reads `signing_key_file` and `verifying_key_file` into `signing_key` and
/// `verifying_key` (the core does no I/O). Errors name the file setting.
pub fn load_key_files(mut settings: Settings) -> Result<Settings, SettingsError> {
    let read = |path: &std::path::Path, setting: &str| {
        std::fs::read_to_string(path).map_err(|e| SettingsError {
            setting: setting.into(),
            message: format!("cannot read {}: {e}", path.display()),
        })
    };
    if let Some(path) = settings.signing_key_file.take() {
        if settings.signing_key.is_some() {
            return Err(SettingsError {
                setting: "signing_key_file".into(),
                message: "set either `signing_key` or `signing_key_file`, not both".into(),
            });
        }
        let text = read(&path, "signing_key_file")?;
        // A secret in a file usually ends with a newline that is not part of it.
        settings.signing_key = Some(Secret::from(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    if let Some(path) = settings.verifying_key_file.take() {
        if !settings.verifying_key.is_empty() {
            return Err(SettingsError {
                setting: "verifying_key_file".into(),
                message: "set either `verifying_key` or `verifying_key_file`, not both".into(),
            });
        }
        settings.verifying_key = read(&path, "verifying_key_file")?;
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_read_into_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "file-secret\n").unwrap();
        let settings = load_key_files(Settings {
            signing_key_file: Some(path.clone()),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(settings.signing_key.unwrap().expose(), "file-secret");
        assert!(settings.signing_key_file.is_none());
        let err = load_key_files(Settings {
            signing_key_file: Some(dir.path().join("missing")),
            ..Settings::default()
        })
        .unwrap_err();
        assert_eq!(err.setting, "signing_key_file");
        let err = load_key_files(Settings {
            signing_key: Some("x".into()),
            signing_key_file: Some(path),
            ..Settings::default()
        })
        .unwrap_err();
        assert_eq!(err.setting, "signing_key_file");
    }
}
