#!/usr/bin/env bash
# Build "Device Lab Console.app" and a .dmg on macOS. NOT run on these machines
# (Linux only): written to the same steps as installers/linux/build.sh; see
# installers/README.md. Needs Python 3.10+ (python3) and Xcode's command line tools.
#   installers/macos/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(uname -s)" = Darwin ] || { echo "build.sh: run this on macOS (see installers/README.md)" >&2; exit 2; }
BUILD=$PWD/build/installer-macos
VENV=$BUILD/venv
[ -x "$VENV/bin/python" ] || { "${PYTHON:-python3}" -m venv "$VENV"; "$VENV/bin/python" -m pip install -q --upgrade pip; }
SRC=$BUILD/src
rm -rf "$SRC"; mkdir -p "$SRC"
cp -R console resources pyproject.toml README.md "$SRC/"
"$VENV/bin/python" -m pip install -q "$SRC[package]"
"$VENV/bin/python" -m pip install -q --no-deps --force-reinstall "$SRC"
VERSION=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("device-lab-console"))')
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$BUILD/pyi-dist" --workpath "$BUILD/pyi-work" installers/macos/devicelab.spec
APP="$BUILD/pyi-dist/Device Lab Console.app"
got=$("$APP/Contents/MacOS/devicelab" --version)
[ "$got" = "devicelab $VERSION" ] || { echo "build.sh: the app printed '$got' for --version" >&2; exit 1; }
mkdir -p dist
DMG=dist/devicelab-$VERSION-macos-$(uname -m).dmg
rm -f "$DMG"
hdiutil create -volname "Device Lab Console $VERSION" -srcfolder "$APP" -ov -format UDZO "$DMG"
echo "build.sh: $DMG (unsigned: see installers/README.md for signing and notarization)"
