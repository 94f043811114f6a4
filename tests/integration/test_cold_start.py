"""What `import function_app` (the host's cold start, which it waits for) loads itself: the
functions' declarations, not pydantic-settings or the settings classes. The warm-up thread the
import starts reads the settings after it (shared/warmup.py); bench/cold_start.py measures both."""

from __future__ import annotations

import subprocess
import sys

from shared.config import PROJECT_ROOT

# Records the modules the importing thread itself imports (the warm-up thread's are not its).
PROBE = """
import sys, threading
loaded = []
def record(event, args):
    if event == "import" and threading.current_thread() is threading.main_thread():
        loaded.append(args[0])
sys.addaudithook(record)
import function_app
print(" ".join(loaded))
"""


def test_importing_function_app_loads_neither_pydantic_settings_nor_the_settings_classes():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(result.stdout.split())

    assert "function_app" in loaded and "shared.routes" in loaded  # the probe sees the import's own modules
    assert "pydantic_settings" not in loaded and "shared.settings" not in loaded
