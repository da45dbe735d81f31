"""How the clients reconnect: exponential backoff with jitter, bounded in
time, so a bot rides out an agent restart and never waits silently forever.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Optional

__all__ = ["Reconnect", "NO_RECONNECT"]


@dataclass(frozen=True)
class Reconnect:
    """The reconnect policy of a client.

    After the connection drops (an agent restart, a crash, a network
    namespace hiccup), the next request reconnects: first after
    ``initial_delay`` seconds, then after delays growing by ``factor`` up to
    ``max_delay``, each shortened or lengthened by up to ``jitter`` (a
    fraction) so that many bots do not reconnect in lock-step. After
    ``give_up_after`` seconds without a connection the request fails with
    ``AgentUnavailableError`` (``None``: keep trying forever, which only a
    bot with its own watchdog should choose).

    The defaults ride out a restart of the agent (a few seconds: the token
    login and the journal replay) and give up after 30 s.
    """

    initial_delay: float = 0.05
    max_delay: float = 2.0
    factor: float = 2.0
    give_up_after: Optional[float] = 30.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not self.initial_delay > 0 or not self.max_delay >= self.initial_delay:
            raise ValueError("need 0 < initial_delay <= max_delay")
        if not self.factor >= 1:
            raise ValueError("factor must be at least 1")
        if self.give_up_after is not None and not self.give_up_after >= 0:
            raise ValueError("give_up_after must be >= 0 or None")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def delays(self) -> Iterator[float]:
        """The waits before each new attempt (unbounded; callers stop at
        ``give_up_after``)."""
        delay = self.initial_delay
        while True:
            yield delay * (1 + random.uniform(-self.jitter, self.jitter))
            delay = min(self.max_delay, delay * self.factor)


#: Pass as ``reconnect=`` to turn reconnecting off: a dropped connection then
#: raises ``ConnectionClosedError`` until ``connect()`` is called again.
NO_RECONNECT: Optional[Reconnect] = None
