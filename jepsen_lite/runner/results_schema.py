"""The layout of ``results.json``: a JSON Schema (``results.schema.json`` beside this
module, draft 2020-12), a validator for the part of JSON Schema it uses, and the
reference table of docs/jepsen-run.md generated from it.

The schema is the one description of the file: :func:`validate` checks a run's
``results.json`` against it, :func:`markdown_table` renders every key with its type and
meaning for the docs, and ``tests/runner/test_report_results_schema.py`` fails when the docs
table, the schema or what :mod:`jepsen_lite.runner.run` writes disagree. ``python -m
jepsen_lite.runner.results_schema`` prints the table.

The validator knows the keywords the schema uses (``type``, ``enum``, ``const``,
``minimum``, ``properties``, ``required``, ``additionalProperties``, ``items``,
``minItems``, ``maxItems``, ``anyOf``); any other keyword in a schema is an error, so
the schema cannot rely on something this validator silently ignores. CI systems can use
any JSON Schema validator with the same file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_VERSION = 1
"""The ``schema_version`` written into ``results.json``."""

SCHEMA_FILE = "results.schema.json"

_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description"})
_KNOWN = _ANNOTATIONS | {
    "type", "enum", "const", "minimum", "properties", "required", "additionalProperties",
    "items", "minItems", "maxItems", "anyOf",
}  # fmt: skip


@cache
def schema() -> Mapping[str, Any]:
    """The schema of ``results.json`` (read once from the package)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _type_ok(value: object, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise ValueError(f"schema: unknown type {name!r}")


def _types(node: Mapping[str, Any]) -> list[str]:
    kind = node.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def errors(value: object, node: Mapping[str, Any], path: str = "") -> list[str]:
    """Every way ``value`` breaks schema ``node``, each ``"PATH: what is wrong"`` (PATH
    as ``checkers[0].validity``; ``(top)`` for the whole document); ``[]`` if valid."""
    where = path or "(top)"
    unknown = sorted(set(node) - _KNOWN)
    if unknown:
        raise ValueError(f"schema at {where}: unsupported keyword {unknown[0]!r}")
    if "anyOf" in node:
        branches = [errors(value, branch, path) for branch in node["anyOf"]]
        if any(not found for found in branches):
            return []
        return min(branches, key=len)
    types = _types(node)
    if types and not any(_type_ok(value, t) for t in types):
        return [f"{where}: expected {' or '.join(types)}, got {_show(value)}"]
    if "const" in node and value != node["const"]:
        return [f"{where}: expected {_show(node['const'])}, got {_show(value)}"]
    if "enum" in node and value not in node["enum"]:
        choices = ", ".join(_show(c) for c in node["enum"])
        return [f"{where}: {_show(value)} is not one of {choices}"]
    found: list[str] = []
    if "minimum" in node and isinstance(value, int | float) and value < node["minimum"]:
        found.append(f"{where}: {_show(value)} is below the minimum {node['minimum']}")
    if isinstance(value, dict):
        found += _object_errors(value, node, path)
    if isinstance(value, list):
        if "minItems" in node and len(value) < node["minItems"]:
            found.append(f"{where}: fewer than {node['minItems']} items")
        if "maxItems" in node and len(value) > node["maxItems"]:
            found.append(f"{where}: more than {node['maxItems']} items")
        if "items" in node:
            for index, item in enumerate(value):
                found += errors(item, node["items"], f"{path}[{index}]")
    return found


def _object_errors(value: dict[str, Any], node: Mapping[str, Any], path: str) -> list[str]:
    where = path or "(top)"
    found = [
        f"{where}: missing key {key!r}" for key in node.get("required", ()) if key not in value
    ]
    properties: Mapping[str, Any] = node.get("properties", {})
    extra = node.get("additionalProperties", True)
    for key in value:
        inner = f"{path}.{key}" if path else key
        if key in properties:
            found += errors(value[key], properties[key], inner)
        elif extra is False:
            found.append(f"{where}: unknown key {key!r}")
        elif isinstance(extra, dict):
            found += errors(value[key], extra, inner)
    return found


def _show(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def validate(data: object) -> list[str]:
    """The ways ``data`` (a decoded ``results.json``) breaks the schema; ``[]`` if none."""
    return errors(data, schema())


# -- the docs table ------------------------------------------------------------------


def type_text(node: Mapping[str, Any]) -> str:
    """A short type for people: ``integer``, ``string or null``, ``array of object``,
    ``"valid" / "invalid"`` for an enum, ``1`` for a const."""
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " / ".join(json.dumps(choice) for choice in node["enum"])
    types = _types(node)
    text = " or ".join(types)
    if types == ["array"] and "items" in node:
        inner = type_text(node["items"])
        text = f"array of ({inner})" if " " in inner else f"array of {inner}"
    if types == ["object"] and isinstance(node.get("additionalProperties"), dict):
        text = f"object (name → {type_text(node['additionalProperties'])})"
    return text


def rows(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, str, str]]:
    """``(path, type, description)`` for every documented key under ``node``, depth
    first in schema order: ``checkers[].name`` for the items of an array,
    ``ops_by_f.*.ok`` for the values of a map."""
    for key, inner in node.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        yield here, type_text(inner), inner.get("description", "")
        yield from _children(inner, here)


def _children(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, str, str]]:
    if "properties" in node:
        yield from rows(node, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and "properties" in extra:
        yield from rows(extra, f"{path}.*")
    items = node.get("items")
    if isinstance(items, dict) and "properties" in items:
        yield from rows(items, f"{path}[]")


def markdown_table(form: str) -> str:
    """The docs table of one form of ``results.json`` (``finished`` or ``error``)."""
    (branch,) = [b for b in schema()["anyOf"] if b["title"] == form]
    lines = ["| key | type | contents |", "|---|---|---|"]
    for path, kind, description in rows(branch):
        lines.append(f"| `{path}` | {kind.replace('|', '/')} | {description} |")
    return "\n".join(lines)


def main() -> None:
    """Print both docs tables (``python -m jepsen_lite.runner.results_schema``)."""
    for form in ("finished", "error"):
        print(
            f"<!-- results.json, {form} form: generated by python -m "
            "jepsen_lite.runner.results_schema -->"
        )
        print(markdown_table(form))
        print()


if __name__ == "__main__":
    main()
