#!/usr/bin/env python3
"""Checks real HTTP exchanges against docs/openapi.json.

    check_responses.py SPEC EXCHANGES

EXCHANGES is a JSON array of objects: method, path (the document's path template, e.g.
/api/v1/reservations/{digest}), status, headers (name -> value), body (text), and optionally
requestBody (text) and requestContentType. For each exchange:

- the path and method must be in the document, and the status among the operation's responses;
- every header the response declares as required must be present and match its schema, and every
  declared header that is present must match too;
- the response's media type must be one the document lists for that status (or none when it lists none),
  and a JSON body must validate against its schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1);
- a JSON request body the server accepted (2xx) must validate against the request schema.

Exits 1, listing every mismatch, when any exchange does not match.
"""

import json
import sys

import jsonschema


def resolve(node, spec):
    """The node with every local $ref replaced by what it points to (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return resolve(target, spec)
        return {key: resolve(value, spec) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, spec) for value in node]
    return node


def validate(schema, instance):
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}" for error in validator.iter_errors(instance)]


def media_type(value):
    return (value or "").split(";")[0].strip().lower()


def is_json(media):
    return media == "application/json" or media.endswith("+json")


def check(spec, exchange):
    problems = []
    where = f"{exchange['method']} {exchange['path']} -> {exchange['status']}"
    operation = spec["paths"].get(exchange["path"], {}).get(exchange["method"].lower())
    if operation is None:
        return [f"{where}: the document has no such operation"]
    response = operation.get("responses", {}).get(str(exchange["status"]))
    if response is None:
        return [f"{where}: status not documented (documented: {', '.join(operation.get('responses', {}))})"]

    headers = {name.lower(): value for name, value in exchange["headers"].items()}
    for name, declared in response.get("headers", {}).items():
        value = headers.get(name.lower())
        if value is None:
            if declared.get("required"):
                problems.append(f"{where}: required header {name} is missing")
            continue
        for message in validate(declared.get("schema", {}), value):
            problems.append(f"{where}: header {name}: {value!r}: {message}")

    content = response.get("content", {})
    media = media_type(headers.get("content-type"))
    if not content:
        if exchange["body"]:
            problems.append(f"{where}: a body ({media or 'no Content-Type'}) where the document has none")
    elif media not in content:
        problems.append(f"{where}: Content-Type {media or '(none)'} is not among {', '.join(content)}")
    elif is_json(media):
        try:
            body = json.loads(exchange["body"])
        except ValueError as error:
            problems.append(f"{where}: the body is not JSON: {error}")
        else:
            for message in validate(content[media].get("schema", {}), body):
                problems.append(f"{where}: body: {message}")

    request_body = exchange.get("requestBody")
    if request_body is not None and 200 <= exchange["status"] < 300 and "requestBody" in operation:
        request_media = media_type(exchange.get("requestContentType"))
        declared = operation["requestBody"]["content"].get(request_media)
        if declared is None:
            problems.append(f"{where}: accepted a {request_media} body the document does not list")
        elif is_json(request_media):
            for message in validate(declared.get("schema", {}), json.loads(request_body)):
                problems.append(f"{where}: the accepted request body does not match its schema: {message}")
    return problems


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as file:
        document = json.load(file)
    spec = resolve(document, document)
    with open(sys.argv[2], encoding="utf-8") as file:
        exchanges = json.load(file)
    problems = [problem for exchange in exchanges for problem in check(spec, exchange)]
    covered = sorted({(e["path"], e["method"].upper(), e["status"]) for e in exchanges})
    documented = sorted(
        (path, method.upper(), int(status))
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status in operation.get("responses", {})
    )
    missing = [entry for entry in documented if entry not in covered]
    print(f"{len(exchanges)} exchanges, {len(covered)} of {len(documented)} documented responses seen")
    for path, method, status in missing:
        print(f"  not exercised: {method} {path} {status}")
    for problem in problems:
        print(f"MISMATCH {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
