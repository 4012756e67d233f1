-- Accounts: password-change time (tokens issued before it are refused) and the values of
-- custom user fields declared in the configuration (a JSON object).
ALTER TABLE users ADD COLUMN password_changed_at INTEGER;
ALTER TABLE users ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
