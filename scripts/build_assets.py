"""Copy the API reference page's third-party assets (Swagger UI, from npm) into static/vendor/.

`make` and azd's prepackage hook run it after `npm ci`, so the deployed folder holds them:
the app serves every asset itself, and no page loads anything from elsewhere.

    python3 scripts/build_assets.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "node_modules" / "swagger-ui-dist"
VENDOR = ROOT / "static" / "vendor"
# What the reference page loads, and the licenses that go with it (target name: source name).
FILES = {
    "swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui.css",
    "swagger-ui-LICENSE.txt": "LICENSE",
    "swagger-ui-NOTICE.txt": "NOTICE",
    "swagger-ui-bundle.js.LICENSE.txt": "swagger-ui-bundle.js.LICENSE.txt",
}


def main() -> int:
    wanted = json.loads((ROOT / "package.json").read_text())["devDependencies"]["swagger-ui-dist"]
    manifest = PACKAGE / "package.json"
    if not manifest.exists():
        print("swagger-ui-dist is not installed: run `npm ci` first", file=sys.stderr)
        return 1
    installed = json.loads(manifest.read_text())["version"]
    if installed != wanted:
        print(f"swagger-ui-dist {installed} is installed, package.json wants {wanted}: run `npm ci`", file=sys.stderr)
        return 1
    VENDOR.mkdir(parents=True, exist_ok=True)
    for target, source in FILES.items():
        shutil.copyfile(PACKAGE / source, VENDOR / target)
    (VENDOR / "VERSION").write_text(f"swagger-ui-dist {installed}\n")
    print(f"static/vendor: swagger-ui-dist {installed}, {len(FILES)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
