"""A stand-in identity provider for the oidc_auth end-to-end tests: keys
made with python3-cryptography, tokens minted with Debian's python3-jwt,
and the JWKS file written the way a sidecar would (new file, rename)."""
import base64
import hashlib
import hmac
import json
import os
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test/realms/clinic"
AUDIENCE = "phiguard"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class IdP:
    def __init__(self, issuer=ISSUER, audience=AUDIENCE):
        self.issuer = issuer
        self.audience = audience
        self.keys = {}  # kid -> (alg, private key)

    def add_rsa(self, kid):
        self.keys[kid] = ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return kid

    def add_ec(self, kid):
        self.keys[kid] = ("ES256", ec.generate_private_key(ec.SECP256R1()))
        return kid

    def jwk(self, kid):
        alg, key = self.keys[kid]
        algo = RSAAlgorithm if alg == "RS256" else ECAlgorithm
        d = json.loads(algo.to_jwk(key.public_key()))
        d.update({"kid": kid, "use": "sig", "alg": alg})
        return d

    def public_pem(self, kid):
        return self.keys[kid][1].public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)

    def write_jwks(self, path, kids):
        """The JWKS of kids, written to a new file renamed over path."""
        tmp = path + ".new"
        with open(tmp, "w") as f:
            json.dump({"keys": [self.jwk(k) for k in kids]}, f)
        os.replace(tmp, path)

    def claims(self, sub="248289761001", groups=(), lifetime=300, **extra):
        now = int(time.time())
        c = {"iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now, "nbf": now, "exp": now + lifetime,
             "realm_access": {"roles": list(groups)}}
        c.update(extra)
        return c

    def token(self, kid, claims=None, key_of=None, **claim_args):
        """claims signed with kid's key (or key_of's key, under kid)."""
        alg, key = self.keys[key_of or kid]
        return jwt.encode(claims if claims is not None else self.claims(**claim_args), key, algorithm=alg,
                          headers={"kid": kid})


def unsigned(header, claims, signature=""):
    h = b64url(json.dumps(header).encode())
    p = b64url(json.dumps(claims).encode())
    return f"{h}.{p}.{signature}"


def hs256(header, claims, secret):
    """An HS256 token made by hand: PyJWT itself refuses a PEM key as an
    HMAC secret, which is exactly the confusion this forges."""
    body = unsigned(header, claims)[:-1]
    mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{b64url(mac)}"


def tamper(token, **changes):
    """token with its payload changed, the signature kept."""
    h, p, s = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims.update(changes)
    return f"{h}.{b64url(json.dumps(claims).encode())}.{s}"
