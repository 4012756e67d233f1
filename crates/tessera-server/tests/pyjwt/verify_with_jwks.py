"""Verifies Tessera tokens the way another Python service would: PyJWT with nothing but
the JWKS URL.

usage: verify_with_jwks.py JWKS_URL ALGORITHM TOKEN [TOKEN ...]

Prints one JSON line per token: {"kid": ..., "user_id": ..., "token_type": ...}. Exits
non-zero on the first token that does not verify.
"""
import json
import sys

import jwt
from jwt import PyJWKClient


def main() -> int:
    url, algorithm, tokens = sys.argv[1], sys.argv[2], sys.argv[3:]
    client = PyJWKClient(url, cache_keys=False, timeout=10)
    for token in tokens:
        signing_key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, signing_key.key, algorithms=[algorithm])
        header = jwt.get_unverified_header(token)
        print(json.dumps({"kid": header["kid"], "alg": header["alg"],
                          "user_id": claims["user_id"], "token_type": claims["token_type"]}))
    # A tampered token must fail.
    tampered = tokens[0][:-4] + ("AAAA" if not tokens[0].endswith("AAAA") else "BBBB")
    try:
        jwt.decode(tampered, client.get_signing_key_from_jwt(tampered).key, algorithms=[algorithm])
    except jwt.InvalidTokenError:
        print(json.dumps({"tampered": "rejected"}))
    else:
        print("a tampered token verified", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
