# Sourced by the launch scripts: sets PYTHON to $PYTHON if given, else the repository's
# .venv (made by tools/setup.sh) when it exists, else python on PATH.
if [ -z "${PYTHON:-}" ]; then
  _mmtobias_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -x "$_mmtobias_root/.venv/bin/python" ]; then
    PYTHON="$_mmtobias_root/.venv/bin/python"
  else
    PYTHON=python
  fi
fi
