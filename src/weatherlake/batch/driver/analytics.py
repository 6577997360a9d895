"""The file spark-submit runs for a batch run: :func:`weatherlake.batch.jobs.main`.

    spark-submit --master 'local[*]' src/weatherlake/batch/driver/analytics.py \\
        --lake-uri file:///var/lib/weatherlake/weather_data --job all

``weatherlake`` comes from the driver's Python, where it is installed (``pip install -e``
in a checkout's .venv, ``pip install`` in the image). Python puts a script's own directory
first on ``sys.path``; this file is alone in its directory, so nothing there can shadow
another module.
"""

import sys

from weatherlake.batch.jobs import main

if __name__ == "__main__":
    sys.exit(main())
