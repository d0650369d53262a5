"""Serve every function in template.yaml like `sam local start-api`, but with warm environments.

    python devtools/serve.py [--host 127.0.0.1] [--port 3000] [--environments 2]

Each function runs in N worker processes, each one Lambda execution environment: it imports the function's
handler once (function folder and layers on sys.path) and then handles one event at a time, so module-level
state such as connection pools is reused across invocations exactly as in a warm Lambda.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import json
import multiprocessing as mp
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lambda_events import Route, http_api_event, routes_from_template
from lambda_runtime import LambdaContext

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
SPAWN = mp.get_context("spawn")  # a fresh interpreter per environment, as on Lambda; fork would share state


LambdaHandler = Callable[[dict[str, Any], LambdaContext], Any]


def _environment_main(conn: Connection, route: Route, code_dir: str, layer_dirs: list[str]) -> None:
    """Body of one execution environment (a spawned process)."""
    # Ctrl-C reaches the whole process group; the parent stops its environments itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Like sam local: AWS_SAM_LOCAL also keeps the Powertools Tracer from looking for an X-Ray daemon.
    lambda_env = {
        "AWS_SAM_LOCAL": "true",
        "AWS_LAMBDA_FUNCTION_NAME": route.function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(route.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(route.timeout),
    }
    os.environ.update({k: v for k, v in {**route.environment, **lambda_env}.items() if k not in os.environ})
    sys.path[:0] = [code_dir, *layer_dirs]
    os.chdir(code_dir)
    module, _, attr = route.handler.rpartition(".")
    try:
        handler: LambdaHandler = getattr(importlib.import_module(module), attr)
    except BaseException:
        conn.send(("init_error", traceback.format_exc()))
        return
    conn.send(("ready", None))
    while (event := conn.recv()) is not None:
        try:
            conn.send(("ok", handler(event, LambdaContext(route.function, route.timeout, route.memory_size))))
        except Exception:
            conn.send(("error", traceback.format_exc()))


class FunctionError(Exception):
    """The handler raised, or its environment timed out or died."""


class Environment:
    """One execution environment: a process that imported the handler and runs one event at a time."""

    def __init__(self, route: Route, base: Path) -> None:
        self.route = route
        self.conn, child = SPAWN.Pipe()
        code_dir = str((base / route.code_uri).resolve())
        # A built layer (sam build) keeps its code in python/, which Lambda puts on sys.path as /opt/python.
        layers = [(base / layer).resolve() for layer in route.layers]
        layer_dirs = [str(d / "python" if (d / "python").is_dir() else d) for d in layers]
        self.process = SPAWN.Process(
            target=_environment_main, args=(child, route, code_dir, layer_dirs), daemon=True
        )
        self.process.start()
        child.close()
        try:
            status, detail = self.conn.recv()
        except EOFError:
            status, detail = "init_error", "its process exited"
        if status != "ready":
            self.kill()
            raise FunctionError(f"{route.function} failed to initialise:\n{detail}")

    def invoke(self, event: dict[str, Any]) -> tuple[bool, Any]:
        """(True, the handler's result) or (False, its traceback); FunctionError if it is lost."""
        try:
            self.conn.send(event)
            if not self.conn.poll(self.route.timeout):
                raise FunctionError(f"{self.route.function} timed out after {self.route.timeout} s")
            status, result = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise FunctionError(f"{self.route.function} environment exited") from exc
        return status == "ok", result

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(2)
        if self.process.is_alive():
            self.kill()


class Function:
    """A pool of warm environments of one function; a request waits for a free one, as Lambda never would."""

    def __init__(self, route: Route, base: Path, size: int) -> None:
        self.route, self.base = route, base
        self.all = [Environment(route, base) for _ in range(size)]
        self.idle: queue.Queue[Environment] = queue.Queue()
        for environment in self.all:
            self.idle.put(environment)

    def invoke(self, event: dict[str, Any]) -> Any:
        environment = self.idle.get()
        try:
            ok, result = environment.invoke(event)
        except FunctionError:
            # Like Lambda after a timeout or crash: the environment is discarded and a new one starts cold.
            # If that fails too, the dead one goes back to the pool and the next request tries again.
            environment.kill()
            fresh = Environment(self.route, self.base)
            self.all[self.all.index(environment)] = fresh
            environment = fresh
            raise
        finally:
            self.idle.put(environment)
        if not ok:
            raise FunctionError(f"{self.route.function} raised:\n{result}")
        return result

    def stop(self) -> None:
        for environment in self.all:
            environment.stop()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"content-type": "application/json"}, body


def _http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    # Payload 2.0: a result without statusCode is a 200 JSON body.
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return int(result["statusCode"]), dict(result.get("headers") or {}), raw


def make_handler(
    routes: list[Route], functions: dict[str, Function], port: int
) -> type[BaseHTTPRequestHandler]:
    forwarded = [("x-forwarded-proto", "http"), ("x-forwarded-port", str(port))]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, a keep-alive client's delayed ACK stalls each
        # response by ~40 ms.
        disable_nagle_algorithm = True

        def _dispatch(self) -> None:
            began = time.perf_counter()
            url = urlsplit(self.path)
            payload = self.rfile.read(int(self.headers.get("content-length") or 0))
            cookies: list[str] = []
            for route in routes:
                if (path_parameters := route.match(self.command, url.path)) is not None:
                    headers = [*self.headers.items(), *forwarded]
                    event = http_api_event(
                        self.command, url.path, url.query, headers, route.route_key,
                        path_parameters=path_parameters, source_ip=self.client_address[0], body=payload,
                    )  # fmt: skip
                    try:
                        result = functions[route.function].invoke(event)
                        status, response_headers, body = _http_response(result)
                        if isinstance(result, dict):
                            cookies = result.get("cookies") or []
                    except FunctionError as exc:
                        sys.stderr.write(f"{exc}\n")
                        status, response_headers, body = _error(500, "internal", "The function failed.")
                    break
            else:
                message = f"No route serves {self.command} {url.path}."
                status, response_headers, body = _error(404, "not_found", message)
            self.send_response(status)
            for name, value in response_headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            for cookie in cookies:
                self.send_header("set-cookie", cookie)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            ms = (time.perf_counter() - began) * 1000
            sys.stderr.write(f"{self.command} {self.path} {status} {ms:.1f} ms\n")

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # _dispatch logs one line per request, with its duration

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--environments", type=int, default=2, help="warm environments per function")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="e.g. .aws-sam/build/template.yaml")
    args = parser.parse_args()

    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell may start us with it ignored
        signal.signal(signum, _interrupt)
    routes = routes_from_template(args.template)
    one_route_each = {route.function: route for route in routes}.values()
    functions: dict[str, Function] = {}
    try:
        with ThreadPoolExecutor() as pool:  # cold starts in parallel
            started = pool.map(lambda r: Function(r, args.template.parent, args.environments), one_route_each)
            functions.update((function.route.function, function) for function in started)
        handler = make_handler(routes, functions, args.port)
        with ThreadingHTTPServer((args.host, args.port), handler) as server:
            for route in routes:
                print(f"{route.route_key:<30} -> {route.function}", file=sys.stderr)
            print(f"Serving on http://{args.host}:{args.port} (Ctrl-C to stop)", file=sys.stderr)
            server.serve_forever()
    except FunctionError as exc:
        sys.exit(str(exc))
    except KeyboardInterrupt:
        print("Stopping.", file=sys.stderr)
    finally:
        for function in functions.values():
            function.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def background(environments: int = 2) -> Iterator[tuple[str, list[str]]]:
    """This server in a child process on a free port (for tests and benchmarks): yields its URL and start-up log
    once it serves, stops it afterwards. The children inherit this process's environment (PS_DB, ES_INDEX, ...)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, __file__, "--port", str(port), "--environments", str(environments)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    # Drained for the server's whole life: it logs every request, and a full pipe would block it.
    threading.Thread(target=lambda: [*map(lines.put, process.stderr), lines.put("")], daemon=True).start()
    log: list[str] = []
    try:
        while (line := lines.get(timeout=300)) and not line.startswith("Serving on"):
            log.append(line)
        if not line:
            raise RuntimeError(f"serve.py exited before serving:\n{''.join(log)}")
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        code = process.wait(timeout=30)
    if code != 0:
        raise RuntimeError(f"serve.py exited with status {code} when asked to stop")


if __name__ == "__main__":
    main()
