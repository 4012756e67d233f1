"""Regenerates vectors.json: tokens signed by PyJWT with the PEM keys beside this file.

Run with a Python that has PyJWT and cryptography: `python make_vectors.py > vectors.json`.
"""
import json

import jwt

KEYS = {
    "HS256": "known-answer-secret-of-at-least-64-bytes-for-every-hmac-algorithm!!",
    "HS384": "known-answer-secret-of-at-least-64-bytes-for-every-hmac-algorithm!!",
    "HS512": "known-answer-secret-of-at-least-64-bytes-for-every-hmac-algorithm!!",
    "RS256": "rsa2048.pem", "RS384": "rsa2048.pem", "RS512": "rsa2048.pem",
    "PS256": "rsa2048.pem", "PS384": "rsa2048.pem", "PS512": "rsa2048.pem",
    "ES256": "ec256.pem", "ES384": "ec384.pem", "EdDSA": "ed25519.pem",
}
PAYLOAD = {"token_type": "access", "exp": 4102444800, "iat": 1700000000,
           "jti": "0123456789abcdef0123456789abcdef", "user_id": "42"}

vectors = []
for alg, key in KEYS.items():
    if key.endswith(".pem"):
        key = open(key).read()
    token = jwt.encode(PAYLOAD, key, algorithm=alg, headers={"kid": "kat"})
    vectors.append({"alg": alg, "token": token})
print(json.dumps(vectors, indent=1))
