"""The checks of tests/django/run.sh: a Django + simplejwt project's users and tokens at Tessera.

    python check.py PHASE --fixture seed.json --db TESSERA_DATABASE_URL [--url TESSERA_URL]

Phases, in the order run.sh calls them:
  empty     Tessera's database holds no rows of users, sessions, imported users and tokens, or
            audit events (after `import django --dry-run`, which only applies the migrations);
  imported  every Django user is in Tessera's `users` with the same id, flags and hash, verbatim;
  wait      polls GET /readyz until Tessera is ready (bounded);
  live      Django's tokens and passwords at the running Tessera;
  upgraded  the hashes of the users who logged in are argon2id (after the import's re-run too);
  spent     after the import's re-run, Django's refresh tokens spent at Tessera stay spent;
  report    the import's report (--report FILE) counts what it should: with --expect created
            every user created, with --expect unchanged nothing created or updated.

With --rollback FILE, `live` and `upgraded` also write what Tessera issued there (a live
pair, a refresh token of a session Tessera ended, the upgraded hashes) for Django's
`manage.py rollback_check`, which shows what going back to Django keeps.

HTTP goes through the standard library only; the database is read with sqlite3, or with
psycopg (installed in the virtualenv from requirements.txt) on PostgreSQL. Exits 1 with one
line per failed check.
"""
import argparse
import json
import re
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit

failures = []
passed = 0


def check(name, condition, detail=""):
    """Records one check; a failure is reported at the end, with `detail`."""
    global passed
    if condition:
        passed += 1
    else:
        failures.append(f"{name}: {detail}" if detail else name)


def request(base, method, path, body=None, token=None):
    """(status, parsed JSON body or the raw text) of one request to Tessera."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class Database:
    """Tessera's database, read-only: SQLite through sqlite3, PostgreSQL through psycopg."""

    def __init__(self, url):
        if url.startswith("sqlite://"):
            path = unquote(urlsplit(url).path if url.startswith("sqlite:///") else url[9:])
            self.path = path.split("?", 1)[0]
            self.engine = "sqlite"
        elif url.startswith(("postgres://", "postgresql://")):
            self.url = url
            self.engine = "postgres"
        else:
            raise SystemExit(f"unsupported database URL: {url}")

    def query(self, sql, params=()):
        """All rows of `sql`; `?` placeholders on both engines."""
        if self.engine == "sqlite":
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                return connection.execute(sql, params).fetchall()
            finally:
                connection.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            return connection.execute(sql.replace("?", "%s"), params).fetchall()

    def has_table(self, name):
        """Whether Tessera's table `name` exists."""
        if self.engine == "sqlite":
            import os

            if not os.path.exists(self.path):
                return False
            sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            sql = "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?"
        return bool(self.query(sql, (name,)))

    def users(self):
        """{id: row} of Tessera's users."""
        rows = self.query(
            "SELECT id, username, email, password_hash, is_active, is_staff, is_superuser,"
            " first_name, last_name FROM users"
        )
        keys = ("id", "username", "email", "hash", "is_active", "is_staff", "is_superuser",
                "first_name", "last_name")
        return {row[0]: dict(zip(keys, row)) for row in rows}


def can_log_in(user):
    return user["hasher"] is not None and user["is_active"]


def phase_empty(db, fixture):
    tables = ("users", "sessions", "imported_users", "foreign_refresh_tokens", "audit_events")
    for table in tables:
        if db.has_table(table):
            count = db.query(f"SELECT COUNT(*) FROM {table}")[0][0]
            check(f"dry run wrote no {table}", count == 0, f"{count} rows")
        else:
            check(f"dry run wrote no {table}", True)


def phase_imported(db, fixture):
    users = db.users()
    check("every Django user imported", len(users) == len(fixture["users"]),
          f"{len(users)} users in Tessera, {len(fixture['users'])} in Django")
    for user in fixture["users"]:
        row = users.get(user["id"])
        name = f"user {user['username']} (id {user['id']})"
        if row is None:
            check(f"{name} imported with its id", False, "missing")
            continue
        check(f"{name}: username", row["username"] == user["username"], repr(row["username"]))
        check(f"{name}: e-mail", (row["email"] or "") == user["email"], repr(row["email"]))
        check(f"{name}: names", (row["first_name"], row["last_name"])
              == (user["first_name"], user["last_name"]), repr(row))
        check(f"{name}: is_active", bool(row["is_active"]) == user["is_active"])
        check(f"{name}: is_staff", bool(row["is_staff"]) == user["is_staff"])
        check(f"{name}: is_superuser", bool(row["is_superuser"]) == user["is_superuser"])
        if user["hasher"] is None:
            check(f"{name}: unusable password kept", row["hash"].startswith("!"),
                  row["hash"][:24])
        else:
            check(f"{name}: {user['hasher']} hash kept verbatim", row["hash"] == user["hash"],
                  f"{row['hash'][:24]}… != {user['hash'][:24]}…")


def phase_wait(url):
    deadline = time.monotonic() + 60
    last = None
    while time.monotonic() < deadline:
        try:
            last = request(url, "GET", "/readyz")
            if last[0] == 200:
                return
        except OSError as error:
            last = error
        time.sleep(0.1)
    raise SystemExit(f"Tessera at {url} was not ready within 60 s: {last}")


def profile_id(url, token):
    status, body = request(url, "GET", "/api/auth/profile/", token=token)
    return status, body.get("id") if isinstance(body, dict) else body


def record(path, **values):
    """Adds `values` to the JSON object in `path` (created when missing)."""
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError:
        data = {}
    data.update(values)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2)


def phase_live(url, db, fixture, rollback):
    tokens = fixture["tokens"]
    ids = {user["username"]: user["id"] for user in fixture["users"]}

    # Django's access tokens authenticate at Tessera.
    for who in ("alice", "dave"):
        status, got = profile_id(url, tokens[who]["access"])
        check(f"Django access token of {who} authenticates", status == 200 and got == ids[who],
              f"{status} {got}")
    status, body = request(url, "POST", "/api/token/verify/", {"token": tokens["dave"]["access"]})
    check("Django access token verifies", status == 200 and body == {}, f"{status} {body}")

    # Django's refresh token is adopted once; the new pair works.
    django_refresh = tokens["alice"]["refresh"]
    status, first = request(url, "POST", "/api/token/refresh/", {"refresh": django_refresh})
    adopted = status == 200 and isinstance(first, dict) and {"access", "refresh"} <= first.keys()
    check("Django refresh token refreshes at Tessera", adopted, f"{status} {first}")
    if adopted:
        status, got = profile_id(url, first["access"])
        check("the adopted access token authenticates", status == 200 and got == ids["alice"],
              f"{status} {got}")
        # A second tab presenting the same Django token within refresh_reuse_grace (10 s)
        # of the adoption, before the new session rotates, gets the same successor.
        status, twin = request(url, "POST", "/api/token/refresh/", {"refresh": django_refresh})
        check("a second tab within the grace gets the same successor",
              status == 200 and isinstance(twin, dict) and twin.get("refresh") == first["refresh"],
              f"{status} {twin}")
        status, second = request(url, "POST", "/api/token/refresh/", {"refresh": first["refresh"]})
        rotated = status == 200 and isinstance(second, dict) and "refresh" in second
        check("the adopted refresh token rotates", rotated, f"{status} {second}")
        # Once the session has rotated, the same Django refresh token again is reuse:
        # refused, and the session ends.
        status, body = request(url, "POST", "/api/token/refresh/", {"refresh": django_refresh})
        check("the Django refresh token is refused the second time", status == 401,
              f"{status} {body}")
        if rotated:
            status, body = request(url, "POST", "/api/token/refresh/",
                                   {"refresh": second["refresh"]})
            check("the adopted session's refresh token is dead after the reuse", status == 401,
                  f"{status} {body}")
            status, body = request(url, "GET", "/api/auth/profile/", token=second["access"])
            check("the adopted session's access token is dead after the reuse", status == 401,
                  f"{status} {body}")
            record(rollback, revoked_refresh=second["refresh"], revoked_user=ids["alice"])

    # Tokens simplejwt blacklisted stay refused; bob's live successor is adopted.
    for name in ("bob_rotated_away", "carol_blacklisted"):
        status, body = request(url, "POST", "/api/token/refresh/", {"refresh": tokens[name]})
        check(f"{name} refresh token is refused", status == 401, f"{status} {body}")
    status, body = request(url, "POST", "/api/token/refresh/",
                           {"refresh": tokens["bob_rotated"]["refresh"]})
    check("bob's refresh token rotated at Django refreshes", status == 200, f"{status} {body}")

    # A Django refresh token logged out at Tessera (simplejwt's blacklist view) is spent.
    dave_refresh = tokens["dave"]["refresh"]
    status, body = request(url, "POST", "/api/token/blacklist/", {"refresh": dave_refresh})
    check("a Django refresh token is blacklisted at Tessera", status == 200 and body == {},
          f"{status} {body}")
    status, body = request(url, "POST", "/api/token/refresh/", {"refresh": dave_refresh})
    check("the Django refresh token blacklisted at Tessera is refused", status == 401,
          f"{status} {body}")

    # Every user logs in with their username and old password.
    for user in fixture["users"]:
        name = user["username"]
        status, body = request(url, "POST", "/api/token/",
                               {"username": name, "password": user["password"]})
        if can_log_in(user):
            ok = status == 200 and isinstance(body, dict) and {"access", "refresh"} <= body.keys()
            check(f"{name} ({user['hasher']}) logs in with the old password", ok,
                  f"{status} {body}")
            if ok:
                status, got = profile_id(url, body["access"])
                check(f"{name}'s new access token authenticates",
                      status == 200 and got == user["id"], f"{status} {got}")
                if name == "dave":
                    record(rollback, pair=body, pair_user=user["id"])
        else:
            check(f"{name} cannot log in", status == 401, f"{status} {body}")
    status, body = request(url, "POST", "/api/token/", {"username": "nologin", "password": "!"})
    check("the unusable password matches nothing", status == 401, f"{status} {body}")
    status, body = request(url, "POST", "/api/token/",
                           {"username": "alice", "password": "alice-wrong-password"})
    check("a wrong password is refused", status == 401, f"{status} {body}")
    status, body = request(url, "POST", "/api/token/",
                           {"email": "alice@example.com", "password": "alice-Old-Password-7"})
    check("username mode asks for the username", status == 400, f"{status} {body}")


def phase_spent(url, fixture):
    tokens = fixture["tokens"]
    for name, token in (
        ("adopted", tokens["alice"]["refresh"]),
        ("blacklisted at Tessera", tokens["dave"]["refresh"]),
        ("blacklisted at Django", tokens["carol_blacklisted"]),
        ("rotated away at Django", tokens["bob_rotated_away"]),
    ):
        status, body = request(url, "POST", "/api/token/refresh/", {"refresh": token})
        check(f"after the re-run, the Django refresh token {name} is still refused",
              status == 401, f"{status} {body}")


def phase_upgraded(db, fixture, rollback):
    # The upgrade is written after the login answered: poll, bounded.
    deadline = time.monotonic() + 30
    while True:
        users = db.users()
        pending = [u["username"] for u in fixture["users"]
                   if can_log_in(u) and not users[u["id"]]["hash"].startswith("$argon2id$")]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check("every login upgraded the hash to argon2id", not pending, f"still old: {pending}")
    record(rollback, hashes={u["username"]: [users[u["id"]]["hash"], u["password"]]
                             for u in fixture["users"] if can_log_in(u)})
    for user in fixture["users"]:
        if not can_log_in(user):
            row = users[user["id"]]
            expected = user["hash"] if user["hasher"] else None
            kept = row["hash"] == expected if expected else row["hash"].startswith("!")
            check(f"{user['username']}'s hash is untouched", kept, row["hash"][:24])


def report_counts(path):
    """{target table: {"created": n, …}} of the lines `<source> -> <target>: n created, …`."""
    counts = {}
    with open(path, encoding="utf-8") as file:
        for line in file:
            match = re.match(r"\S+ -> (\w+): (\d+) created, (\d+) updated, (\d+) unchanged, "
                             r"(\d+) skipped", line)
            if match:
                target, *numbers = match.groups()
                counts[target] = dict(zip(("created", "updated", "unchanged", "skipped"),
                                          map(int, numbers)))
    return counts


def phase_report(fixture, path, expect):
    counts = report_counts(path)
    users, tokens = counts.get("users"), counts.get("foreign_refresh_tokens")
    check("the report counts users and tokens", users is not None and tokens is not None,
          f"no count lines in {path}")
    if users is None or tokens is None:
        return
    total = len(fixture["users"])
    if expect == "created":
        check("the report counts every user created", users["created"] == total
              and users["updated"] == users["skipped"] == 0, f"{users}, {total} in Django")
        check("the report counts Django's outstanding tokens created", tokens["created"] > 0
              and tokens["updated"] == 0, str(tokens))
    else:
        check("the re-run reports no user created or updated",
              users["created"] == users["updated"] == 0 and users["unchanged"] == total,
              str(users))
        check("the re-run reports no token created or updated",
              tokens["created"] == tokens["updated"] == 0, str(tokens))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    phases = ("empty", "imported", "wait", "live", "spent", "upgraded", "report")
    parser.add_argument("phase", choices=phases)
    parser.add_argument("--fixture")
    parser.add_argument("--db")
    parser.add_argument("--url")
    parser.add_argument("--rollback")
    parser.add_argument("--report")
    parser.add_argument("--expect", choices=("created", "unchanged"))
    args = parser.parse_args()
    if args.phase == "wait":
        phase_wait(args.url)
        return
    with open(args.fixture, encoding="utf-8") as file:
        fixture = json.load(file)
    db = Database(args.db)
    if args.phase == "report":
        phase_report(fixture, args.report, args.expect)
    elif args.phase == "empty":
        phase_empty(db, fixture)
    elif args.phase == "imported":
        phase_imported(db, fixture)
    elif args.phase == "live":
        phase_live(args.url, db, fixture, args.rollback)
    elif args.phase == "spent":
        phase_spent(args.url, fixture)
    else:
        phase_upgraded(db, fixture, args.rollback)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    print(f"   {args.phase}: {passed} checks passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
