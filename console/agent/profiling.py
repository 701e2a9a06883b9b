"""``run --profile N``: N frames, after a warm-up, profiled by the runtime's own profiler.

The window is frames ``after`` .. ``after + N - 1`` of the run. The backend is
told where it starts (:meth:`Backend.profile_mark`, before the first profiled
inference) and after each profiled frame (:meth:`Backend.profile_frame`,
outside the timed stages, so reading a profiler never counts as inference);
once the last one ran, its rows go out as one ``profile`` message. The
agent's own ``infer`` time over those frames is the denominator of every
operator's share. A run that ends early still reports what it profiled.
"""

from __future__ import annotations

from typing import Any, Optional

from console.core import protocol as P


class ProfileWindow:
    def __init__(self, backend: Any, frames: int, after: int) -> None:
        self.backend = backend
        self.first = max(0, after)
        self.last = self.first + frames - 1
        self.frames = frames
        self.done = 0
        self.infer_ms = 0.0
        self.finished = False
        if self.first == 0:
            backend.profile_mark()

    def after_frame(self, n: int, infer_ms: float) -> Optional[P.Profile]:
        """Call after frame ``n``; returns the profile once its last frame ran (once)."""
        if self.finished:
            return None
        if n >= self.first:
            self.done += 1
            self.infer_ms += infer_ms
            self.backend.profile_frame()
            if n >= self.last:
                return self.result(False)
        elif n == self.first - 1:
            self.backend.profile_mark()
        return None

    def result(self, ended_early: bool) -> P.Profile:
        self.finished = True
        if self.done == 0:  # the run ended before the first profiled frame
            self.backend.close()
            return P.Profile(self.backend.name, "partial",
                             "the run ended before frame %d, the first to profile: nothing "
                             "was profiled (a shorter --profile-after profiles sooner)"
                             % self.first, self.first, 0, 0.0, [])
        res = self.backend.profile_result()
        status, text = res.status, res.text
        if status == "ok" and ended_early:
            status = "partial"
            text = ("the input ended after %d of the %d profiled frames; %s"
                    % (self.done, self.frames, text))
        ops = [P.OpRow(o.node, o.op_type, o.device, o.calls, o.total_us, o.order)
               for o in res.ops]
        return P.Profile(self.backend.name, status, text, self.first, self.done,
                         round(self.infer_ms, 4), ops)
