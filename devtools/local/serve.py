"""Serve every function in template.yaml like `sam local start-api`, but with warm environments.

    python -m devtools.local.serve [--host 127.0.0.1] [--port 3000] [--environments 2] [--functions search ...]

Each function runs in N worker processes, each one Lambda execution environment: it imports the function's
handler once (function folder and layers on sys.path) and then handles one event at a time, so module-level
state such as connection pools is reused across invocations exactly as in a warm Lambda.

CORS is answered as API Gateway answers it, from the HttpApi's CorsConfiguration in the template: preflights
(OPTIONS with Origin and Access-Control-Request-Method) get 204 without reaching a function, and a request with an
allowed Origin gets the CORS headers on its response (any the function sent are dropped, as API Gateway drops them).

`make serve` runs it in the foreground; `background()` runs the same command in a child process for the tests, the
benchmark and the stress tools (--functions: only some functions, as the benchmark serves search alone).
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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devtools.local.lambda_events import Route, http_api_event, load_template, routes_from_template
from devtools.local.lambda_runtime import LambdaContext, lambda_environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
MODULE = "devtools.local.serve"  # what `make serve` runs, and background() too
STOP_SECONDS = 30  # background(): how long the server may take to stop its environments
SPAWN = mp.get_context("spawn")  # a fresh interpreter per environment, as on Lambda; fork would share state


LambdaHandler = Callable[[dict[str, Any], LambdaContext], Any]


def _environment_main(conn: Connection, route: Route, code_dir: str, layer_dirs: list[str]) -> None:
    """Body of one execution environment (a spawned process)."""
    # Ctrl-C reaches the whole process group; the parent stops its environments itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Like sam local: AWS_SAM_LOCAL also keeps the Powertools Tracer from looking for an X-Ray daemon.
    lambda_env = {
        **lambda_environment(route.function, code_dir),
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


@dataclass(frozen=True)
class Cors:
    """An HttpApi's CorsConfiguration, applied as API Gateway applies it (empty: CORS not configured)."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.allow_origins)

    def allowed_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin for a request from `origin`, or None if it gets no CORS headers."""
        if not origin or not self.configured:
            return None
        if origin in self.allow_origins:
            return origin
        return "*" if "*" in self.allow_origins and not self.allow_credentials else None

    def _origin_headers(self, allowed: str) -> dict[str, str]:
        headers = {"access-control-allow-origin": allowed}
        if allowed != "*":
            headers["vary"] = "Origin"
        if self.allow_credentials:
            headers["access-control-allow-credentials"] = "true"
        return headers

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """What API Gateway adds to the response to a (non-preflight) request from `origin`."""
        if (allowed := self.allowed_origin(origin)) is None:
            return {}
        headers = self._origin_headers(allowed)
        if self.expose_headers:
            headers["access-control-expose-headers"] = ",".join(self.expose_headers)
        return headers

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        """What API Gateway answers a preflight from `origin` with (its status is always 204)."""
        if (allowed := self.allowed_origin(origin)) is None:
            return {}
        headers = self._origin_headers(allowed)
        if self.allow_methods:
            headers["access-control-allow-methods"] = ",".join(self.allow_methods)
        if self.allow_headers:
            headers["access-control-allow-headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            headers["access-control-max-age"] = str(self.max_age)
        return headers


def cors_from_template(path: str | Path = TEMPLATE) -> Cors:
    """The CorsConfiguration of the template's HttpApi (or of Globals.HttpApi), with parameters at their defaults."""
    template = load_template(path)
    parameters = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    apis = [r.get("Properties", {}) for r in template.get("Resources", {}).values()
            if r.get("Type") == "AWS::Serverless::HttpApi"]
    configs = [api["CorsConfiguration"] for api in apis if "CorsConfiguration" in api]
    config = configs[0] if configs else template.get("Globals", {}).get("HttpApi", {}).get("CorsConfiguration")
    if not config:
        return Cors()
    if config is True:  # CorsConfiguration: true allows every origin
        return Cors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    config = _resolve(config, parameters)

    def strings(name: str) -> tuple[str, ...]:
        value = config.get(name) or []
        return tuple(str(v).strip() for v in ([value] if isinstance(value, str) else value))

    max_age = config.get("MaxAge")
    return Cors(allow_origins=strings("AllowOrigins"), allow_methods=strings("AllowMethods"),
                allow_headers=strings("AllowHeaders"), expose_headers=strings("ExposeHeaders"),
                max_age=None if max_age is None else int(max_age),
                allow_credentials=bool(config.get("AllowCredentials", False)))


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """The intrinsics a CorsConfiguration uses locally: Ref to a parameter (its default), Fn::Split, Fn::Join."""
    if isinstance(value, list):
        return [_resolve(v, parameters) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        if value["Ref"] not in parameters or parameters[value["Ref"]] is None:
            raise ValueError(f"CorsConfiguration refers to {value['Ref']}, which has no default")
        return parameters[value["Ref"]]
    if set(value) == {"Fn::Split"}:
        separator, text = _resolve(value["Fn::Split"], parameters)
        return str(text).split(separator)
    if set(value) == {"Fn::Join"}:
        separator, items = _resolve(value["Fn::Join"], parameters)
        return separator.join(map(str, items))
    return {k: _resolve(v, parameters) for k, v in value.items()}


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
    routes: list[Route], functions: dict[str, Function], port: int, cors: Cors | None = None
) -> type[BaseHTTPRequestHandler]:
    forwarded = [("x-forwarded-proto", "http"), ("x-forwarded-port", str(port))]
    cors = cors or Cors()

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
            origin = self.headers.get("origin")
            preflight = self.command == "OPTIONS" and origin and self.headers.get("access-control-request-method")
            if cors.configured and preflight:
                # API Gateway answers a preflight itself, whatever the path, without invoking a function.
                self._send(204, cors.preflight_headers(origin), b"", [], began)
                return
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
            if cors.configured:
                # The gateway's CORS headers replace any the function sent.
                response_headers = {k: v for k, v in response_headers.items()
                                    if not k.lower().startswith("access-control-")}
                for name, value in cors.response_headers(origin).items():
                    earlier = response_headers.get(name)
                    response_headers[name] = f"{earlier}, {value}" if name == "vary" and earlier else value
            self._send(status, response_headers, body, cookies, began)

        def _send(self, status: int, headers: dict[str, str], body: bytes, cookies: list[str], began: float) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            for cookie in cookies:
                self.send_header("set-cookie", cookie)
            # 204 and 304 have no content, and no Content-Length (RFC 9110 8.6).
            bodiless = status in (204, 304) or status < 200
            if not bodiless:
                # HEAD: the GET's length, which the function reports (RFC 9110 8.6: never a length the GET would not
                # have); its body here is empty.
                told = {k.lower(): v for k, v in headers.items()}.get("content-length")
                self.send_header("content-length", told if self.command == "HEAD" and told else str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and not bodiless:
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
    parser.add_argument("--functions", nargs="+", metavar="NAME",
                        help="serve only these functions (their folder under functions/, e.g. search)")
    args = parser.parse_args()

    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell may start us with it ignored
        signal.signal(signum, _interrupt)
    routes = served_routes(args.template, args.functions)
    one_route_each = {route.function: route for route in routes}.values()
    functions: dict[str, Function] = {}
    try:
        with ThreadPoolExecutor() as pool:  # cold starts in parallel
            started = pool.map(lambda r: Function(r, args.template.parent, args.environments), one_route_each)
            functions.update((function.route.function, function) for function in started)
        handler = make_handler(routes, functions, args.port, cors_from_template(args.template))
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


def served_routes(template: Path, functions: Sequence[str] | None = None) -> list[Route]:
    """The template's routes, $default last (what no other route serves); only those of `functions` if given."""
    routes = routes_from_template(template, with_default=True)
    if functions:
        routes = [route for route in routes if Path(route.code_uri).name in functions]
        if not routes:
            sys.exit(f"no function of {template} is one of {', '.join(functions)}")
    return routes


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _append(log: list[str], line: str) -> bool:
    """`line` kept in `log` (the log then goes on growing while the server runs); False at its end."""
    log.append(line)
    return bool(line)


@contextlib.contextmanager
def background(environments: int = 2, functions: Sequence[str] | None = None,
               function_log: Path | None = None) -> Iterator[tuple[str, list[str]]]:
    """This server, started as `make serve` starts it but in a child process on a free port (for the tests, the
    benchmark and the stress tools): yields its URL and its log once it serves (what it wrote until then, and every
    line after as it is written), stops it afterwards. The
    children inherit this process's environment (PS_DB, ES_INDEX, ...). `functions`: as --functions.
    `function_log`: a file for what the functions print (their JSON logs, errors with their tracebacks); else
    discarded."""
    port = _free_port()
    command = [sys.executable, "-m", MODULE, "--port", str(port), "--environments", str(environments)]
    command += ["--functions", *functions] if functions else []
    stdout = open(function_log, "w") if function_log else subprocess.DEVNULL  # closed below
    process = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    # Drained for the server's whole life: it logs every request, and a full pipe would block it.
    threading.Thread(target=lambda: [*map(lines.put, process.stderr), lines.put("")], daemon=True).start()
    log: list[str] = []
    try:
        while (line := lines.get(timeout=300)) and not line.startswith("Serving on"):
            log.append(line)
        if not line:
            raise RuntimeError(f"the local server exited before serving:\n{''.join(log)}")
        threading.Thread(target=lambda: [*iter(lambda: _append(log, lines.get()), False)], daemon=True).start()
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        if function_log:
            stdout.close()
        try:
            code = process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise RuntimeError(f"the local server did not stop within {STOP_SECONDS} s and was killed") from None
    if code != 0:
        raise RuntimeError(f"the local server exited with status {code} when asked to stop")


if __name__ == "__main__":
    main()
