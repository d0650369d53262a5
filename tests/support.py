"""Test helpers that talk to the real stores: plain connections, and a TCP proxy that counts round trips."""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import asyncpg
import load_data

SUPERUSER_DSN = "postgresql://postgres@127.0.0.1:55432/{}"

# One loop for the whole session, as Mangum keeps one per Lambda environment: the layer's clients bind to it.
LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)  # Mangum adopts the current loop, so tests and handler share it


def fetch(database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(SUPERUSER_DSN.format(database))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()
    return LOOP.run_until_complete(run())  # not asyncio.run: it would unset the loop Mangum relies on


class RoundTripCounter:
    """A loopback TCP proxy to PostgreSQL counting client->server writes separated by a server answer.

    asyncpg sends each protocol exchange in one write and then waits for the answer, so every burst of client
    data that follows server data is one round trip.
    """

    def __init__(self, target_port: int = 55432) -> None:
        self.target_port, self.round_trips, self._client_turn = target_port, 0, {}
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait()

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        key = object()
        self._client_turn[key] = False

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_client: bool) -> None:
            while data := await reader.read(65536):
                if from_client and not self._client_turn[key]:
                    self.round_trips += 1
                self._client_turn[key] = from_client
                writer.write(data)
                await writer.drain()
            writer.close()
        await asyncio.gather(pipe(client_r, server_w, True), pipe(server_r, client_w, False),
                             return_exceptions=True)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)




def load_catalogue(argv: list[str]) -> None:
    """The project's own loader; its asyncio.run unsets the current loop, which Mangum would then replace."""
    load_data.main(argv)
    asyncio.set_event_loop(LOOP)


def run(awaitable: Any) -> Any:
    return LOOP.run_until_complete(awaitable)


def body(response: dict) -> Any:
    return json.loads(response["body"])


class LambdaContext:
    """The attributes Powertools reads from the Lambda runtime's context object."""
    function_name = "catalogue-search-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:catalogue-search-test"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"


def load_function(name: str) -> Any:
    """Import functions/<name>/app.py as Lambda would (its folder on sys.path), under a unique module name."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
