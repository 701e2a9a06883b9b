#!/bin/sh
# Install Device Lab Console for the current user, no root needed:
#   ./install.sh              app in ~/.local/lib/devicelab, command ~/.local/bin/devicelab,
#                             menu entry and icons in ~/.local/share
#   ./install.sh --uninstall  remove exactly those again
# PREFIX (default ~/.local) and XDG_DATA_HOME (default ~/.local/share) move them.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-$HOME/.local}
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APPDIR=$PREFIX/lib/devicelab
BIN=$PREFIX/bin/devicelab
DESKTOP=$DATA/applications/devicelab.desktop
ICONS=$DATA/icons/hicolor
SIZES="16 24 32 48 64 128 256 512"

refresh_menus() {
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$DATA/applications" 2>/dev/null || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$ICONS/index.theme" ]; then
    gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true
  fi
}

uninstall() {
  rm -rf "$APPDIR"
  if [ -L "$BIN" ]; then rm -f "$BIN"; fi
  rm -f "$DESKTOP" "$ICONS/scalable/apps/devicelab.svg"
  for s in $SIZES; do rm -f "$ICONS/${s}x${s}/apps/devicelab.png"; done
  refresh_menus
  echo "install.sh: Device Lab Console removed (settings and sessions in ~/.config/devicelab and ~/.local/share/devicelab are kept)"
}

case "${1:-}" in
  --uninstall) uninstall; exit 0 ;;
  "") ;;
  *) echo "install.sh: unknown option '$1'; use ./install.sh or ./install.sh --uninstall" >&2; exit 2 ;;
esac

if [ ! -x "$HERE/devicelab/devicelab" ]; then
  echo "install.sh: $HERE/devicelab/devicelab is missing; unpack the whole archive and run install.sh from it" >&2
  exit 1
fi
if [ -e "$BIN" ] && [ ! -L "$BIN" ]; then
  echo "install.sh: $BIN exists and is not our link; move it away and run install.sh again" >&2
  exit 1
fi

case "$APPDIR" in
  *[\"\`\$%\\]*)
    echo "install.sh: the install folder $APPDIR holds a character a menu entry cannot hold (\" \` \$ % or \\); set PREFIX to another folder" >&2
    exit 1 ;;
esac

mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$DATA/applications"
# Copy next to the old install, then swap: a failed copy leaves the old one working.
tmp="$APPDIR.new.$$"
rm -rf "$tmp"
cp -R "$HERE/devicelab" "$tmp"
rm -rf "$APPDIR"
mv "$tmp" "$APPDIR"
ln -sfn "$APPDIR/devicelab" "$BIN"

# Exec= wants the absolute path, quoted (a home folder may hold spaces);
# escape what sed would read as special in the replacement.
exec_path=$(printf '%s' "$APPDIR/devicelab" | sed -e 's/[&|]/\\&/g')
sed "s|@EXEC@|\"$exec_path\"|" "$HERE/devicelab.desktop" > "$DESKTOP.tmp"
mv "$DESKTOP.tmp" "$DESKTOP"

for s in $SIZES; do
  if [ -f "$HERE/icons/devicelab-$s.png" ]; then
    mkdir -p "$ICONS/${s}x${s}/apps"
    cp "$HERE/icons/devicelab-$s.png" "$ICONS/${s}x${s}/apps/devicelab.png"
  fi
done
mkdir -p "$ICONS/scalable/apps"
cp "$HERE/icons/devicelab.svg" "$ICONS/scalable/apps/devicelab.svg"
refresh_menus

echo "install.sh: Device Lab Console installed in $APPDIR"
case ":$PATH:" in
  *":$PREFIX/bin:"*) echo "install.sh: start it from the applications menu or with: devicelab" ;;
  *) echo "install.sh: start it from the applications menu or with: $BIN ($PREFIX/bin is not on your PATH)" ;;
esac
