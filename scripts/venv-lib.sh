# A Python venv under target/ with pinned packages from PyPI, made (or made again when
# the pins change) on first use: `ensure_venv DIR "PACKAGE==VERSION …"`. Sourced by
# python-env.sh and spark-env.sh.
ensure_venv() {
  local venv="$1" want="$2"
  if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want >&2
    echo "$want" > "$venv/.installed"
  fi
}
