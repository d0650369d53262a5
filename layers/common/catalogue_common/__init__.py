"""What the API's functions, the ingestion, the development tools and the tests must agree on, in one place each.

Deployed as its own small layer (template.yaml's CommonLayer) beside the API's layer or the ingestion's, so that
neither keeps a copy: two settings readers once drifted apart and the ingestion lost TLS.
"""
