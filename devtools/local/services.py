"""`up` starts local PostgreSQL and Elasticsearch in the background and returns when both answer; `down` stops both.

    python -m devtools.local.services up|down      # make up, make down
"""
from __future__ import annotations

import sys

from devtools.local import es_server, pg_server


def up() -> None:
    pg_server.start()
    es_server.start()


def down() -> None:
    es_server.stop()
    pg_server.stop()


if __name__ == "__main__":
    {"up": up, "down": down}[sys.argv[1]]()
