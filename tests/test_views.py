"""The views' contract: the published layout, and no pyspark for the readers that share it."""

from __future__ import annotations

import subprocess
import sys

from weatherlake import views


def test_a_views_pointer_is_under_analytics():
    assert views.latest_path("hourly_trends") == "analytics/hourly_trends/_LATEST"


def test_the_speed_and_serving_readers_import_no_pyspark():
    code = (
        "import sys, weatherlake.views, weatherlake.speed.published, weatherlake.web.merge; "
        "sys.exit('pyspark' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
