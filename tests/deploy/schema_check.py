"""A JSON Schema (draft-07) checker for the keywords the compose-spec schema uses.

The `jsonschema` package is not among the project's dependencies, and the compose-spec schema
needs only a dozen keywords; a keyword this checker does not know is an error, never skipped,
so a newer schema cannot pass by being half read.
"""

import re
from typing import Any

ANNOTATIONS = {"description", "deprecated", "default", "$schema", "$id", "title", "definitions"}
TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "integer": (int,),
    "number": (int, float),
}
KNOWN = ANNOTATIONS | {
    "$ref",
    "type",
    "enum",
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
    "items",
    "oneOf",
    "uniqueItems",
    "minimum",
    "maximum",
    "pattern",
}


def _is(instance: Any, name: str) -> bool:
    if isinstance(instance, bool) and name in ("integer", "number"):
        return False
    return isinstance(instance, TYPES[name])


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref is supported: {ref}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def errors(instance: Any, schema: Any, root: dict[str, Any], path: str = "") -> list[str]:
    """Every way `instance` breaks `schema`, as "path: reason" lines (empty when valid)."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{path or '/'}: not allowed"]
    unknown = set(schema) - KNOWN
    if unknown:
        raise ValueError(f"schema keyword(s) this checker does not know: {sorted(unknown)}")
    if "$ref" in schema:  # draft-07: keywords beside $ref are ignored
        return errors(instance, _resolve(root, schema["$ref"]), root, path)
    where = path or "/"
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(instance, name) for name in names):
            return [f"{where}: {instance!r} is not of type {'/'.join(names)}"]
    found: list[str] = []
    if "enum" in schema and instance not in schema["enum"]:
        found.append(f"{where}: {instance!r} is not one of {schema['enum']}")
    if "oneOf" in schema:
        valid = [s for s in schema["oneOf"] if not errors(instance, s, root, path)]
        if len(valid) != 1:
            found.append(f"{where}: matches {len(valid)} of oneOf's schemas, not exactly 1")
    if isinstance(instance, dict):
        found += _object_errors(instance, schema, root, path)
    if isinstance(instance, list):
        if "items" in schema:
            for index, item in enumerate(instance):
                found += errors(item, schema["items"], root, f"{path}/{index}")
        if schema.get("uniqueItems") and len({repr(i) for i in instance}) != len(instance):
            found.append(f"{where}: items are not unique")
    if isinstance(instance, str) and not re.search(schema.get("pattern", ""), instance):
        found.append(f"{where}: {instance!r} does not match {schema['pattern']}")
    if _is(instance, "number"):
        if "minimum" in schema and instance < schema["minimum"]:
            found.append(f"{where}: {instance} < {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            found.append(f"{where}: {instance} > {schema['maximum']}")
    return found


def _object_errors(
    instance: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str
) -> list[str]:
    found = [
        f"{path or '/'}: {name!r} is required"
        for name in schema.get("required", [])
        if name not in instance
    ]
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    for key, value in instance.items():
        where = f"{path}/{key}"
        matched = False
        if key in properties:
            matched = True
            found += errors(value, properties[key], root, where)
        for pattern, subschema in patterns.items():
            if re.search(pattern, str(key)):
                matched = True
                found += errors(value, subschema, root, where)
        if not matched and "additionalProperties" in schema:
            found += errors(value, schema["additionalProperties"], root, where)
    return found
