# Sourced by .ci/run: what tests/test_app.py and tests/test_app_browser.py need.
# Idempotent and quiet: installs only what is missing.
_app_py="${PYTHON:-python}"
"$_app_py" -c "import streamlit, playwright" >/dev/null 2>&1 \
  || "$_app_py" -m pip install -q "streamlit>=1.38" "playwright>=1.45" >/dev/null
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "app-deps: could not install chromium; tests/test_app_browser.py will be skipped" >&2
  else
    echo "app-deps: chromium missing and apt-get unavailable (not root?); the browser test will be skipped" >&2
  fi
fi
unset _app_py
