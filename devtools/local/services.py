"""`up` starts local PostgreSQL, PgBouncer in front of it (where Debian's package is installed: `make test` installs
it), Elasticsearch and the S3 endpoint of the download files (moto's server) in the background and returns when
they answer; `down` stops them.

    python -m devtools.local.services up|down      # make up, make down
"""
from __future__ import annotations

import sys

from devtools.local import es_server, pg_server, pgbouncer, s3_server


def up() -> None:
    pg_server.start()
    if pgbouncer.installed():
        pgbouncer.start()
    else:
        print("pgbouncer not installed: the local pooler is not started (`make test` installs it)")
    es_server.start()
    s3_server.start()


def down() -> None:
    s3_server.stop()
    es_server.stop()
    pgbouncer.stop()
    pg_server.stop()


if __name__ == "__main__":
    {"up": up, "down": down}[sys.argv[1]]()
