"""Peak resident memory of one server's process tree while a test loads it.

A one-tree view of the load tests' own sampler (:class:`loadtests.stack.PeakMemory`).
"""

from __future__ import annotations

from loadtests.stack import PeakMemory, tree_rss


class PeakRss(PeakMemory):
    """Samples the RSS of a process and its descendants in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__({"server": [pid]}, interval)
        self.pid = pid

    def now(self) -> int:
        """The tree's resident memory right now, in bytes."""
        return tree_rss(self.pid)

    @property
    def peak(self) -> int:
        """The highest RSS sampled so far, in bytes."""
        return self.peaks["server"]
