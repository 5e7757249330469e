"""Scalars as JSON means them, for request bodies.

pydantic's lax mode turns `true` into 1 or 1.0 and `"0.5"` into 0.5; an API that says `number`,
`integer` or `boolean` in its OpenAPI document must refuse those (422). JSON Schema's `integer` admits
`3.0`, so `JsonInt` takes an integral number and refuses booleans, text and fractions.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, StrictBool, StrictFloat


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a JSON integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
# `JsonInt | None` would hide a field's bounds from the JSON schema (pydantic writes "ge", not
# "minimum", when the validator sits inside the union); the validator around the union keeps them.
JsonIntOrNone = Annotated[int | None, BeforeValidator(_json_integer)]
JsonFloat = StrictFloat  # a JSON number: ints and floats, never booleans or text
JsonBool = StrictBool

__all__ = ["JsonBool", "JsonFloat", "JsonInt", "JsonIntOrNone"]
