"""Counting round trips to a store: a loopback TCP proxy in front of it (used by the tests and the benchmark)."""
from __future__ import annotations

import asyncio
import threading


class RoundTripCounter:
    """A loopback TCP proxy to a store (PostgreSQL, Elasticsearch) counting its request-answer round trips.

    Clients send a request and then wait for its answer (asyncpg per protocol exchange, HTTP per request), so
    every burst of client data that follows server data is one round trip.
    """

    def __init__(self, target_port: int) -> None:
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
        try:
            await asyncio.gather(pipe(client_r, server_w, True), pipe(server_r, client_w, False),
                                 return_exceptions=True)
        except asyncio.CancelledError:  # close(): the proxy goes away with its connections, quietly
            client_w.close()
            server_w.close()

    def close(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            proxied = asyncio.all_tasks() - {asyncio.current_task()}
            for task in proxied:
                task.cancel()
            await asyncio.gather(*proxied, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
