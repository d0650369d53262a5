"""What the Lambda runtime hands a function, for running functions outside AWS (local server, tests, benchmark).

Standard library only: the build test loads it into an isolated interpreter that sees nothing but the build.
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
# A sampled trace, as Lambda hands an invocation of a function deployed with `Tracing: Active` (template.yaml).
TRACE_HEADER = "Root=1-00000000-000000000000000000000001;Parent=0000000000000001;Sampled=1"


class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function_name: str = "catalogue-local", timeout: float = 10, memory_size: int = 512) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-2:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_size
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_environment(function_name: str, task_root: str | Path, traced: bool = False) -> dict[str, str]:
    """The variables the Lambda runtime sets that the layers read, for one function whose code is at `task_root`.

    LAMBDA_TASK_ROOT is how both the X-Ray SDK and Powertools know they run on Lambda: without it the SDK's recorder
    takes its server path at import (two botocore clients for sampling rules, about 0.2 s of a cold start that no
    deployed function pays). `traced`: as deployed, the Powertools Tracer on and an invocation inside a sampled trace
    (segments go by UDP to the daemon address, where nothing listens here); otherwise as `sam local` runs it, the
    Tracer off (AWS_SAM_LOCAL)."""
    variables = {"LAMBDA_TASK_ROOT": str(task_root), "AWS_LAMBDA_FUNCTION_NAME": function_name,
                 "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13"}
    if not traced:
        return variables | {"AWS_SAM_LOCAL": "true"}
    return variables | {"_X_AMZN_TRACE_ID": TRACE_HEADER, "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
                        "AWS_SAM_LOCAL": "", "POWERTOOLS_TRACE_DISABLED": "false"}


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under its own module name (several functions all have an `app`).

    The layer must already be importable (on sys.path), as Lambda puts it at /opt/python.
    """
    spec = importlib.util.spec_from_file_location(f"function_{name}", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
