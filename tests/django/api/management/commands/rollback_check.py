"""What going back to Django keeps of what Tessera issued (docs/MIGRATING.md, "Rolling back").

Reads the file check.py wrote (--rollback) and checks, through simplejwt's own views:
Tessera's access token authenticates at Django and its refresh token refreshes there; a
refresh token whose session Tessera ended is still accepted by Django, which never learns
of Tessera's revocations; Tessera's argon2id hashes are not Django's format as they are, and
are Django's `argon2` hashes once prefixed with `argon2`.
"""
import json

from django.contrib.auth.hashers import check_password
from django.core.management.base import BaseCommand, CommandError
from rest_framework.test import APIClient


class Command(BaseCommand):
    help = "Check what Django accepts of the tokens and hashes Tessera issued."

    def add_arguments(self, parser):
        parser.add_argument("--in", dest="path", required=True)

    def handle(self, *args, path, **options):
        with open(path, encoding="utf-8") as file:
            issued = json.load(file)
        failures = []
        client = APIClient()

        response = client.get(
            "/api/hello/", HTTP_AUTHORIZATION=f"Bearer {issued['pair']['access']}"
        )
        if response.status_code != 200 or response.json()["id"] != issued["pair_user"]:
            failures.append(f"Tessera's access token at Django: {response.status_code}")
        for name, token in (
            ("refresh token", issued["pair"]["refresh"]),
            ("refresh token of a session Tessera ended", issued["revoked_refresh"]),
        ):
            response = client.post("/api/token/refresh/", {"refresh": token}, format="json")
            if response.status_code != 200:
                failures.append(f"Tessera's {name} at Django: {response.status_code}")

        for username, (stored, password) in issued["hashes"].items():
            if check_password(password, stored):
                failures.append(f"{username}: Django read Tessera's hash as it is")
            if not check_password(password, "argon2" + stored):
                failures.append(f"{username}: Django refused 'argon2' + Tessera's hash")

        if failures:
            raise CommandError("; ".join(failures))
        self.stdout.write(
            f"   rollback: Django accepts Tessera's tokens and {len(issued['hashes'])} "
            "hashes prefixed with 'argon2'"
        )
