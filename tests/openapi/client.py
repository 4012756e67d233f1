"""A Python client generated from the served document (openapi-python-client) calls the
running server: the token views, a protected view with the access token, the DRF error shapes,
the JWKS and the health route. Any status the document does not list fails the call
(`raise_on_unexpected_status`)."""

import sys

from tessera_client import AuthenticatedClient, Client
from tessera_client.api.account import account_profile
from tessera_client.api.health import healthz
from tessera_client.api.keys import jwks
from tessera_client.api.token import token_obtain_pair, token_refresh, token_verify
from tessera_client.models import Detail, FieldErrors, ObtainRequest, RefreshRequest, TokenPair
from tessera_client.models import TokenError, VerifyRequest


def main(base, email, password):
    client = Client(base_url=base, raise_on_unexpected_status=True)

    pair = token_obtain_pair.sync(client=client, body=ObtainRequest(email=email, password=password))
    assert isinstance(pair, TokenPair), pair
    assert token_verify.sync_detailed(client=client, body=VerifyRequest(token=pair.access)).status_code == 200
    refreshed = token_refresh.sync_detailed(client=client, body=RefreshRequest(refresh=pair.refresh))
    assert refreshed.status_code == 200 and refreshed.parsed.access, refreshed

    wrong = token_obtain_pair.sync(client=client, body=ObtainRequest(email=email, password="wrong"))
    assert isinstance(wrong, Detail) and wrong.detail, wrong
    bad = token_verify.sync(client=client, body=VerifyRequest(token="not-a-token"))
    assert isinstance(bad, TokenError) and bad.code == "token_not_valid", bad
    blank = token_verify.sync(client=client, body=VerifyRequest(token=""))
    assert isinstance(blank, FieldErrors) and "token" in blank.additional_properties, blank

    signed_in = AuthenticatedClient(base_url=base, token=pair.access, raise_on_unexpected_status=True)
    profile = account_profile.sync_detailed(client=signed_in)
    assert profile.status_code == 200 and profile.parsed["email"] == email, profile
    anonymous = account_profile.sync(client=client)
    assert isinstance(anonymous, Detail), anonymous

    keys = jwks.sync_detailed(client=client)
    assert keys.status_code == 200 and keys.parsed["keys"] is not None, keys
    assert healthz.sync_detailed(client=client).status_code == 200
    print("openapi: the generated Python client called the server")


if __name__ == "__main__":
    main(*sys.argv[1:4])
