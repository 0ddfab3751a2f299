"""Declare the API's JSON errors in the OpenAPI document, so clients (and schemathesis) know them.

Every operation can answer these, all as JSON objects: 400 with field messages, 401 without
credentials, 403 when the role may not, 404 for a missing id or another clinic's (the same answer,
so ids leak nothing), 406 when the caller accepts no JSON, 409 for a valid request that cannot be
done now, 429 when throttled. Operations that take a body can also answer 413 (a body over
Django's DATA_UPLOAD_MAX_MEMORY_SIZE) and 415 (a media type the operation does not take).
"""

ERRORS = {
    "400": "Bad input: a message list per field (non_field_errors for the whole request).",
    "401": "Not signed in: no token, an unknown one, or an expired one (sign in again).",
    "403": "Signed in, but this role may not do this.",
    "404": "Not found, or not visible to you (another clinic's records answer the same).",
    "406": "The request's Accept header allows no JSON; every answer is application/json.",
    "409": "Valid, but not possible now (balance, stock, or the request's status).",
    "429": "Too many requests; try again later.",
}
BODY_ERRORS = {
    "413": "The body is larger than 2.5 MB (a lab file of up to 5 MB goes as multipart/form-data).",
    "415": "A media type this operation does not take (only the request bodies listed here).",
}
WRITES = {"post", "put", "patch"}


def declare_errors(result, generator, request, public):
    """drf-spectacular post-processing hook."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "description": "An error: `detail`, or a list of messages per field.",
        "properties": {"detail": {"type": "string"}},
        "additionalProperties": True,
    }
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            errors = {**ERRORS, **BODY_ERRORS} if method in WRITES else ERRORS
            for code, description in sorted(errors.items()):
                responses.setdefault(code, {"description": description, "content": content})
    return result
