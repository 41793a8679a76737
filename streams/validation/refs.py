"""Inlining of local ``$ref`` pointers so the compiled validator avoids a call per reference."""

from __future__ import annotations

import copy
from typing import Any


def inline_local_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``schema`` with each local ``$ref`` (``#/...``) replaced by its target.

    Draft-07 ignores keywords beside ``$ref``, so the whole node is replaced. A reference that
    is remote or that refers back to a schema being inlined (a cycle) is kept as it is.
    """
    return _inline(copy.deepcopy(schema), schema, ())


def _inline(node: Any, root: dict[str, Any], active: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, root, active) for item in node]

    if not isinstance(node, dict):
        return node

    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#") and reference not in active:
        target = _resolve(root, reference)
        if target is not None:
            return _inline(copy.deepcopy(target), root, (*active, reference))

    return {key: _inline(value, root, active) for key, value in node.items()}


def _resolve(root: dict[str, Any], reference: str) -> Any:
    node: Any = root
    pointer = reference[1:]
    if not pointer:
        return None

    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
