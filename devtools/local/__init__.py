"""The local servers (PostgreSQL, Elasticsearch) and the local runtime of the functions (events, context, the HTTP
server that emulates `sam local start-api`): what a fresh clone runs on, and what the tests and benchmarks call."""
