-- Groups and permissions, Django's model (`django.contrib.auth`): a group has a unique name
-- (150 characters, as `Group.name`) and a set of permissions; a user belongs to groups and
-- holds permissions of their own. A permission is an `app_label.codename` string, as
-- `User.has_perm` takes it; there is no table of known permissions. Deleting a user or a
-- group deletes its memberships and grants.

CREATE TABLE groups (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT    NOT NULL UNIQUE
);

CREATE TABLE group_permissions (
    group_id   INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    permission TEXT    NOT NULL,
    PRIMARY KEY (group_id, permission)
);

CREATE TABLE user_groups (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
-- Deleting a group finds its members by this index.
CREATE INDEX user_groups_group_id ON user_groups (group_id);

CREATE TABLE user_permissions (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT    NOT NULL,
    PRIMARY KEY (user_id, permission)
);
