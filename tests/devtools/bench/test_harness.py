"""The benchmark's reading of `-X importtime` (devtools/bench/harness.py): where a cold start's import goes."""
from __future__ import annotations

from devtools.bench.harness import heaviest_imports

IMPORTTIME = """import time: self [us] | cumulative | imported package
import time:       300 |        300 |   aws_xray_sdk
import time:     40000 |     60000 |     botocore.client
import time:    150000 |    210000 |   aws_xray_sdk.core
import time:     20000 |     20000 |     catalogue.clients
import time:      5000 |      5000 |   fastapi
import time:     90000 |     95000 |     fastapi.routing
"""


def test_each_package_counts_the_self_time_of_its_own_modules():
    assert heaviest_imports(IMPORTTIME) == [["aws_xray_sdk", 0.15], ["fastapi", 0.095], ["botocore", 0.04]]


def test_the_count_bounds_the_list_and_the_projects_own_packages_are_left_out():
    assert heaviest_imports(IMPORTTIME, count=1) == [["aws_xray_sdk", 0.15]]
    assert "catalogue" not in {name for name, _ in heaviest_imports(IMPORTTIME)}
