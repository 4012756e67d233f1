-- Accounts: password-change time (tokens issued before it are refused) and the values of
-- custom user fields declared in the configuration (a JSON object).
-- Adding a nullable column, or one with a constant default, rewrites nothing in PostgreSQL 11+.
ALTER TABLE users ADD COLUMN password_changed_at BIGINT;
ALTER TABLE users ADD COLUMN extra JSONB NOT NULL DEFAULT '{}';
