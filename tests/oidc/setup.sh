#!/usr/bin/env bash
# Makes the Python environment of the local OpenID Connect provider (tests/oidc/provider.py): Authlib and Flask
# from PyPI, pinned in tests/oidc/requirements.txt, in .build-oidc-venv/ at the repository root. The tests, the
# browser test and scripts/run start the provider from it. Safe to run again: it does nothing when the
# environment already holds the pinned versions.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.build-oidc-venv
if ! cmp -s tests/oidc/requirements.txt "$venv/requirements.txt" 2>/dev/null || ! [ -x "$venv/bin/python" ]; then
  echo "Installing the test OpenID provider's packages into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/oidc/requirements.txt
  cp tests/oidc/requirements.txt "$venv/requirements.txt"
fi
