"""The project's documentation that is generated or checked by code: the API reference's generated part
(`api`: `make docs` writes it into docs/api.md from the OpenAPI document the API serves)."""
