-- same-shape: a unique constraint becomes a partial unique index of the same name; every
-- query of the previous build still works.
--
-- E-mail addresses become optional (username mode): '' means none, and uniqueness applies
-- to non-empty addresses only.
ALTER TABLE users DROP CONSTRAINT users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email) WHERE email <> '';
