"""Creates the users and token pairs that tests/django/run.sh carries over to Tessera.

Every token is issued by simplejwt's own views, called through DRF's test client, exactly as a
frontend would obtain them; the blacklisted ones are blacklisted by simplejwt itself. The
fixture written to --out names each user, their password and hasher, and the tokens.
"""
import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from rest_framework.test import APIClient

# (username, email, hasher, is_active, is_staff, is_superuser): hasher None is an unusable
# password; an empty e-mail is what Django's create_user stores when none is given.
USERS = [
    ("alice", "alice@example.com", "pbkdf2_sha256", True, False, False),
    ("bob", "bob@example.com", "argon2", True, False, False),
    ("carol", "carol@example.com", "bcrypt_sha256", True, False, False),
    ("dave", "dave@example.com", "scrypt", True, False, False),
    ("erin", "erin@example.com", "pbkdf2_sha1", True, False, False),
    ("frank", "", "bcrypt", True, False, False),
    ("sam", "sam@example.com", "pbkdf2_sha256", True, True, False),
    ("root", "root@example.com", "pbkdf2_sha256", True, True, True),
    ("nologin", "", None, True, False, False),
    ("ivan", "ivan@example.com", "pbkdf2_sha256", False, False, False),
]


class Command(BaseCommand):
    help = "Create users under every password hasher and issue real simplejwt tokens."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="where to write the JSON fixture")

    def handle(self, *args, out, **options):
        User = get_user_model()
        users = []
        for username, email, hasher, active, staff, superuser in USERS:
            password = f"{username}-Old-Password-7"
            user = User.objects.create_user(
                username=username,
                email=email,
                first_name=username.capitalize(),
                last_name="Example" if email else "",
            )
            if hasher is None:
                user.set_unusable_password()
            else:
                user.password = make_password(password, hasher=hasher)
            user.is_active = active
            user.is_staff = staff
            user.is_superuser = superuser
            user.save()
            users.append(
                {
                    "id": user.id,
                    "username": username,
                    "email": email,
                    "password": password,
                    "hasher": hasher,
                    "is_active": active,
                    "is_staff": staff,
                    "is_superuser": superuser,
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                }
            )

        client = APIClient()

        def call(method, path, body=None, token=None, expect=200):
            headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
            response = getattr(client, method)(path, body, format="json", **headers)
            if response.status_code != expect:
                raise CommandError(
                    f"{method.upper()} {path}: {response.status_code} {response.content!r}"
                )
            return response.json()

        def obtain(username):
            return call(
                "post",
                "/api/token/",
                {"username": username, "password": f"{username}-Old-Password-7"},
            )

        # alice: a live pair, to be adopted by Tessera.
        alice = obtain("alice")
        hello = call("get", "/api/hello/", token=alice["access"])
        if hello["id"] != users[0]["id"]:
            raise CommandError(f"/api/hello/ answered {hello}")
        # bob: rotated once at Django; the first refresh token is blacklisted by the rotation.
        bob = obtain("bob")
        bob_rotated = call("post", "/api/token/refresh/", {"refresh": bob["refresh"]})
        call("post", "/api/token/refresh/", {"refresh": bob["refresh"]}, expect=401)
        # carol: logged out through simplejwt's blacklist view.
        carol = obtain("carol")
        call("post", "/api/token/blacklist/", {"refresh": carol["refresh"]})
        call("post", "/api/token/refresh/", {"refresh": carol["refresh"]}, expect=401)
        # dave: a live pair whose access token is used at Tessera.
        dave = obtain("dave")
        # The inactive user cannot obtain tokens at Django either.
        call(
            "post",
            "/api/token/",
            {"username": "ivan", "password": "ivan-Old-Password-7"},
            expect=401,
        )

        # A login at Django rehashes the password with the first of PASSWORD_HASHERS, as
        # Django upgrades hashes: each user's hasher is set again after the logins above.
        for entry in users:
            user = User.objects.get(pk=entry["id"])
            hasher = entry["hasher"]
            if hasher is not None and not user.password.startswith(hasher + "$"):
                user.password = make_password(entry["password"], hasher=hasher)
                user.save(update_fields=["password"])
            if hasher is not None and not user.password.startswith(hasher + "$"):
                raise CommandError(f"{user.username}: {user.password[:20]}… is not {hasher}")
            entry["hash"] = user.password

        fixture = {
            "secret_key": settings.SECRET_KEY,
            "users": users,
            "tokens": {
                "alice": alice,
                "bob_rotated_away": bob["refresh"],
                "bob_rotated": bob_rotated,
                "carol_blacklisted": carol["refresh"],
                "carol_access": carol["access"],
                "dave": dave,
            },
        }
        with open(out, "w", encoding="utf-8") as file:
            json.dump(fixture, file, indent=2)
        self.stdout.write(
            f"created {len(users)} users and {len(fixture['tokens'])} token sets"
        )
