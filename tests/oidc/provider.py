#!/usr/bin/env python3
"""A local OpenID Connect provider for the tests and the demo, run as its own process.

It is built from Authlib's authorization server (PyPI, pinned in requirements.txt): the authorization code flow
of OpenID Connect Core 1.0 with PKCE (RFC 7636, S256, required), `nonce` required, `state` passed back, codes
used once, ID tokens and JWT access tokens (RFC 9068) signed RS256 with keys published at `/jwks`, and the
discovery document at `/.well-known/openid-configuration`. People sign in with a user name and a password on
its own login page.

    provider.py --port-file FILE --client-id ID --client-secret-file F --redirect-uri URI --users users.json
                [--port 0] [--test-controls]

users.json is a list of {"username", "password", "sub", "name", "email", "groups": [...]}.

With --test-controls (tests only; never for the demo), it also answers on loopback:
  POST /control/rotate-keys       {"keep_old": true}     signs with a new key from now on
  POST /control/mint              {"claims": {...}, "alg": "RS256"|"HS256"|"none", "key": "current"|"stranger",
                                   "kid": "..."}          a token with exactly these claims, for hostile tests
  POST /control/tokens            {"username": "..."}   an ID token and an access token for that user, as a
                                                          sign-in would give them (for bearer-token tests)
"""

import argparse
import base64
import hashlib
import hmac
import html
import json
import os
import secrets
import sys
import time
import warnings
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, jsonify, redirect, request
from werkzeug.serving import make_server

TOKEN_LIFETIME = 3600
CODE_LIFETIME = 120


class Keys:
    """The signing keys: the current one signs, every published one verifies."""

    def __init__(self):
        self.published = []
        self.rotate(keep_old=False)

    def rotate(self, keep_old):
        key = JsonWebKey.generate_key("RSA", 2048, is_private=True)
        key_id = "key-" + secrets.token_hex(4)
        private = key.as_dict(is_private=True, kid=key_id, alg="RS256", use="sig")
        self.current = private
        public = {k: v for k, v in private.items() if k in ("kty", "n", "e", "kid", "alg", "use")}
        self.published = (self.published if keep_old else []) + [public]
        return key_id

    def jwks(self):
        return {"keys": self.published}


class Client(ClientMixin):
    def __init__(self, client_id, secret, redirect_uris):
        self.client_id = client_id
        self.secret = secret
        self.redirect_uris = redirect_uris

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        allowed = {"openid", "profile", "email"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return hmac.compare_digest(client_secret.encode(), self.secret.encode())

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


class Code(AuthorizationCodeMixin):
    def __init__(self, code, client_id, redirect_uri, scope, user, nonce, challenge, challenge_method):
        self.code = code
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.user = user
        self.nonce = nonce
        self.code_challenge = challenge
        self.code_challenge_method = challenge_method
        self.auth_time = int(time.time())
        self.expires_at = time.time() + CODE_LIFETIME

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return ["pwd"]


class User(dict):
    """A user of users.json, as Authlib wants one."""

    def get_user_id(self):
        return self["sub"]


def user_claims(user, scope):
    claims = {"sub": user["sub"], "groups": user.get("groups", [])}
    if "profile" in scope.split():
        claims["name"] = user.get("name")
    if "email" in scope.split():
        claims["email"] = user.get("email")
        claims["email_verified"] = True
    return claims


def make_app(issuer, clients, users, keys, test_controls):
    app = Flask(__name__)
    codes = {}
    nonces = set()

    def query_client(client_id):
        return clients.get(client_id)

    server = AuthorizationServer(app, query_client=query_client, save_token=lambda token, req: None)

    class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code, req):
            payload = req.payload
            codes[code] = Code(
                code, req.client.get_client_id(), payload.redirect_uri, payload.scope, req.user,
                payload.data.get("nonce"), payload.data.get("code_challenge"),
                payload.data.get("code_challenge_method"))
            nonces.add(payload.data.get("nonce"))

        def query_authorization_code(self, code, client):
            found = codes.get(code)
            if found and found.client_id == client.get_client_id() and found.expires_at > time.time():
                return found
            return None

        def delete_authorization_code(self, authorization_code):
            codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            return authorization_code.user

    class OpenIDCodeExtension(OpenIDCode):
        def exists_nonce(self, nonce, req):
            return nonce in nonces

        def get_jwt_config(self, grant):
            return {"key": keys.current, "alg": "RS256", "iss": issuer, "exp": TOKEN_LIFETIME}

        def generate_user_info(self, user, scope):
            return UserInfo(user_claims(user, scope))

    class AccessTokens(JWTBearerTokenGenerator):
        def get_jwks(self):
            return {"keys": [keys.current]}

        def get_extra_claims(self, client, grant_type, user, scope):
            return {"groups": user.get("groups", []), "username": user["username"]}

    server.register_grant(AuthorizationCodeGrant, [OpenIDCodeExtension(require_nonce=True), CodeChallenge(required=True)])
    server.register_token_generator(
        "default", AccessTokens(issuer=issuer, expires_generator=lambda client, grant_type: TOKEN_LIFETIME))

    @app.get("/.well-known/openid-configuration")
    def discovery():
        return jsonify({
            "issuer": issuer,
            "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": issuer + "/token",
            "jwks_uri": issuer + "/jwks",
            "userinfo_endpoint": issuer + "/userinfo",
            "end_session_endpoint": issuer + "/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
        })

    @app.get("/jwks")
    def jwks():
        return jsonify(keys.jwks())

    def login_page(message=""):
        # The authorization request rides in the form's action URL (as the query); repeating its parameters as
        # hidden fields would send each twice, which the authorization server rightly refuses.
        warning = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
        return Response(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in - local provider</title>
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#222}}
label{{display:block;margin:.8rem 0 .2rem}}input[type=text],input[type=password]{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}}.error{{color:#a00}}</style></head>
<body><h1>Local sign-in</h1><p>A provider for tests and the demo.</p>{warning}
<form method="post" action="/authorize?{html.escape(urlencode(request.args))}">
<label for="username">User name</label><input type="text" id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></body></html>""", mimetype="text/html")

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize():
        try:
            grant = server.get_consent_grant(end_user=None)
        except Exception as error:  # an invalid request: shown here, never redirected (RFC 6749, 4.1.2.1)
            return Response(f"Invalid authorization request: {html.escape(str(error))}", status=400)
        if request.method == "GET":
            return login_page()
        user = users.get(request.form.get("username", ""))
        if user is None or not hmac.compare_digest(user["password"].encode(), request.form.get("password", "").encode()):
            return login_page("Unknown user name or wrong password."), 401
        return server.create_authorization_response(grant_user=user)

    @app.post("/token")
    def token():
        return server.create_token_response()

    @app.get("/userinfo")
    def userinfo():
        header = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(header.removeprefix("Bearer "), keys.jwks())
            claims.validate()
        except Exception:
            return jsonify({"error": "invalid_token"}), 401
        user = next((u for u in users.values() if u["sub"] == claims["sub"]), None)
        return jsonify(user_claims(user, "openid profile email")) if user else (jsonify({"error": "invalid_token"}), 401)

    @app.get("/logout")
    def logout():
        target = request.args.get("post_logout_redirect_uri", "")
        client = clients.get(request.args.get("client_id", ""))
        allowed = client and any(target.startswith(uri.rsplit("/signin/callback", 1)[0]) for uri in client.redirect_uris)
        return redirect(target) if target and allowed else Response("Signed out of the local provider.")

    if test_controls:
        @app.post("/control/rotate-keys")
        def rotate_keys():
            body = request.get_json(force=True, silent=True) or {}
            return jsonify({"kid": keys.rotate(keep_old=bool(body.get("keep_old", True)))})

        @app.post("/control/mint")
        def mint():
            body = request.get_json(force=True)
            claims = body["claims"]
            alg = body.get("alg", "RS256")
            header = {"alg": alg, "kid": body.get("kid", keys.current["kid"]), "typ": "JWT"}
            if alg == "none":
                encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
                return jsonify({"token": encode(header) + "." + encode(claims) + "."})
            if alg == "HS256":
                # Signed with the public modulus as an HMAC secret: the classic algorithm confusion.
                key = keys.published[-1]["n"].encode()
            elif body.get("key") == "stranger":
                key = JsonWebKey.generate_key("RSA", 2048, is_private=True).as_dict(is_private=True)
            else:
                key = keys.current
            return jsonify({"token": jwt.encode(header, claims, key).decode()})

        @app.post("/control/tokens")
        def tokens():
            body = request.get_json(force=True)
            user = users[body["username"]]
            client = next(iter(clients.values()))
            now = int(time.time())
            id_claims = dict(user_claims(user, "openid profile email"), iss=issuer, aud=client.client_id,
                             iat=now, exp=now + TOKEN_LIFETIME, nonce=body.get("nonce", "n"))
            access_claims = {"iss": issuer, "sub": user["sub"], "aud": client.client_id, "client_id": client.client_id,
                             "iat": now, "exp": now + TOKEN_LIFETIME, "jti": secrets.token_hex(8),
                             "scope": "openid profile email", "groups": user.get("groups", [])}
            header = {"alg": "RS256", "kid": keys.current["kid"], "typ": "JWT"}
            return jsonify({
                "id_token": jwt.encode(header, id_claims, keys.current).decode(),
                "access_token": jwt.encode(dict(header, typ="at+jwt"), access_claims, keys.current).decode(),
            })

    return app


def main():
    warnings.simplefilter("ignore")  # Authlib's deprecation notes about its own internals
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="where to write the port once listening")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret-file", required=True)
    parser.add_argument("--redirect-uri", action="append", required=True)
    parser.add_argument("--users", required=True, help="a JSON file: a list of users")
    parser.add_argument("--test-controls", action="store_true")
    options = parser.parse_args()

    with open(options.client_secret_file) as file:
        secret = file.read().strip()
    with open(options.users) as file:
        users = {user["username"]: User(user) for user in json.load(file)}
    clients = {options.client_id: Client(options.client_id, secret, options.redirect_uri)}

    # Listen first (port 0: a free one), then build the app: the issuer, which tokens carry, names the real port.
    holder = {}
    server = make_server(options.host, options.port, lambda environ, start: holder["app"](environ, start),
                         threaded=True)
    issuer = f"http://{options.host}:{server.server_port}"
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback only
    holder["app"] = make_app(issuer, clients, users, Keys(), options.test_controls)
    port = server.server_port
    if options.port_file:
        with open(options.port_file + ".tmp", "w") as file:
            file.write(str(port))
        os.replace(options.port_file + ".tmp", options.port_file)
    print(f"OpenID provider listening at {issuer}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
