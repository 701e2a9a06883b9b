"""The ``devicelab`` entry point: no arguments opens the window, otherwise the CLI.

Lives above the layers (it may import both ``console.ui`` and ``console.cli``,
which never import each other). A frozen app also starts its own agent
through here (``devicelab --agent run …``) since it has no separate Python.
"""

from __future__ import annotations

import sys


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0] == "--agent":
        from console.agent.main import main as agent_main

        return agent_main(argv[1:])
    gui_options = ("--db", "--package", "--input", "--device", "--truth", "--start", "--theme",
                   "--fps", "--loop", "--no-loop")
    if not argv or argv[0] in ("gui", "--gui") or argv[0].split("=", 1)[0] in gui_options:
        from console.ui.app import main as gui_main

        return gui_main(argv[1:] if argv and argv[0] in ("gui", "--gui") else argv)
    from console.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
