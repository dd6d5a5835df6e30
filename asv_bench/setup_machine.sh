#!/usr/bin/env bash
# One-time setup of a machine for asv: the tools the offline environment needs, and the
# machine description (asv machine --yes takes the defaults: hostname, CPU, RAM).
set -euo pipefail
cd "$(dirname "$0")"
python - <<'PY' || python -m pip install "asv>=0.6" virtualenv wheel
import asv, virtualenv, wheel  # asv's virtualenv step runs `pip install wheel`: have it locally
PY
asv machine --yes "$@"
