#!/usr/bin/env bash
# Prepare this machine for weatherlake: Java 17 (Spark), Mosquitto (weather stations), the
# virtualenv and its pinned packages, and (with --test) what the test suite needs (Maven, Chromium, Mosquitto, docker-compose).
# Safe to run again: it only does what is missing. Used by scripts/up.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

with_test_tools=false
[ "${1:-}" = "--test" ] && with_test_tools=true

say() { printf 'bootstrap: %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    say "missing system packages: $*; install them (sudo apt-get install $*) and run again"
    exit 1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    export APT_UPDATED=1
  fi
  say "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
  apt_install openjdk-17-jre-headless
fi

# The tests run the real Apache Kafka and HDFS (`weatherlake engines`), whose jars Maven
# fetches from Maven Central the first time.
if $with_test_tools && ! command -v mvn >/dev/null; then
  apt_install maven
fi

# The dashboard test drives Debian's Chromium headless (Playwright's own browser download
# cannot work here); chromium-driver is there for Selenium users.
if $with_test_tools && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  apt_install chromium chromium-driver
fi

# Debian's Mosquitto, the MQTT broker weather stations publish to: `weatherlake up` starts
# it beside the stations bridge, and the bridge's tests start their own. Optional for up.
if [ ! -x /usr/sbin/mosquitto ] && ! command -v mosquitto >/dev/null; then
  if $with_test_tools || [ "$(id -u)" -eq 0 ]; then
    apt_install mosquitto
  else
    say "mosquitto is not installed: weatherlake up runs without the stations bridge (sudo apt-get install mosquitto)"
  fi
fi

# The SMTP notification tests make a self-signed certificate with openssl.
if $with_test_tools && ! command -v openssl >/dev/null; then
  apt_install openssl
fi

# Static checks of the Docker cluster (tests/deploy): Debian's docker-compose validates
# docker-compose.yml without a Docker engine; shellcheck lints scripts/.
if $with_test_tools && { ! command -v docker-compose >/dev/null || ! command -v shellcheck >/dev/null; }; then
  apt_install docker-compose shellcheck
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "weatherlake needs Python 3.11 or newer ($python is $("$python" --version 2>&1))"
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$python" -m venv .venv
fi

# The ELT test runs docs/elt.md's Airbyte manifest with Airbyte's own runner, from a
# virtualenv of its own: the CDK's many pins stay out of weatherlake's.
if $with_test_tools; then
  airbyte_digest=$(sha256sum requirements/airbyte.txt | cut -d' ' -f1)
  if [ ! -f .venv-airbyte/.installed ] || [ "$(cat .venv-airbyte/.installed)" != "$airbyte_digest" ]; then
    say "installing requirements/airbyte.txt into .venv-airbyte"
    [ -x .venv-airbyte/bin/python ] || "$python" -m venv .venv-airbyte
    .venv-airbyte/bin/python -m pip install -q --disable-pip-version-check -r requirements/airbyte.txt
    echo "$airbyte_digest" > .venv-airbyte/.installed
  fi
fi

# Real hourly weather history for the gap-filling and forecast tests: the TMY3 files in
# pvlib's wheel, downloaded (not installed) into var/history (tests/history.py).
if $with_test_tools && ! ls var/history/pvlib-*.whl >/dev/null 2>&1; then
  say "downloading real weather history (pvlib's wheel) into var/history"
  mkdir -p var/history
  "$python" -m pip download -q --disable-pip-version-check --no-deps "pvlib==0.16.1" -d var/history
fi

requirements=requirements/local.txt
$with_test_tools && requirements=requirements/dev.txt
stamp=".venv/.installed-$(basename "$requirements" .txt)"
digest=$(cat requirements/*.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  say "installing $requirements into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  echo "$digest" > "$stamp"
fi
