"""Which devices the window's runs hold now: the run in the Run dock, a plan run, a sweep.

Two runs on one device ruin each other's measurements (they share its cores, memory
and heat), so while one of them uses a device the window refuses to start another
there (issue #14), with one line that says who holds it. The window owns one
:class:`BusyDevices`; the Run dock's run, the Plan tab and the Sweep dialog claim
their devices as they start and release them once their thread has ended, and ask
it whether their Start button may be enabled.

Devices are compared as :class:`~console.devices.spec.DeviceSpec` values (by
address): a saved device and the URL it was saved with are one device. A name that
does not parse is compared as typed (its run will be refused for it anyway).

Qt-free: the views pass callbacks, not signals.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

from console.devices.base import DeviceError
from console.devices.spec import DeviceSpec

#: who holds a device, as the refusal line names it
RUN = "the run (Run dock)"
PLAN = "the plan run (Plan tab)"
SWEEP = "the sweep (Sweep dialog)"


def busy_line(device: str, holder: str) -> str:
    """The one line that refuses a start on ``device`` while ``holder`` uses it."""
    return f"{device} is busy with {holder}; wait for it or stop it"


def _identity(device: str) -> tuple[Hashable, str]:
    """What ``device`` (as typed, saved or listed in a plan) is compared by, and its name."""
    try:
        spec = DeviceSpec.parse(device)
    except DeviceError:
        return device.strip(), device.strip()
    return spec, spec.name


class BusyDevices:
    """The devices each holder (:data:`RUN`, :data:`PLAN`, :data:`SWEEP`) uses now."""

    def __init__(self) -> None:
        self._held: dict[str, set[Hashable]] = {}
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever a holder claims or releases its devices."""
        self._listeners.append(listener)

    def refusal(self, devices: Iterable[str], holder: str) -> str | None:
        """The line that refuses starting ``holder`` on ``devices``; None when no *other*
        holder uses any of them."""
        others = {h: keys for h, keys in self._held.items() if h != holder}
        if not others:  # the usual case: nothing to compare (and no device list read)
            return None
        for device in devices:
            key, name = _identity(device)
            for h, keys in others.items():
                if key in keys:
                    return busy_line(name, h)
        return None

    def claim(self, holder: str, devices: Iterable[str]) -> str | None:
        """Hold ``devices`` for ``holder``, or return the refusal line (nothing held then)."""
        devices = list(devices)
        line = self.refusal(devices, holder)
        if line is None:
            self._held[holder] = {_identity(d)[0] for d in devices}
            self._changed()
        return line

    def release(self, holder: str) -> None:
        """``holder``'s run has ended: its devices are free again."""
        if self._held.pop(holder, None) is not None:
            self._changed()

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()
