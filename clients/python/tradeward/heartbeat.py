"""Heartbeats from a background thread: ``Heartbeater`` keeps this
identity's dead-man's switch fed on a connection of its own, resumes after
the agent restarts, and makes a trip visible to the trading loop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, Optional, Union

from .backoff import Reconnect
from .client import Client
from .errors import ClientError, ResponseTimeout, SwitchTrippedError, TradewardError
from .results import HeartbeatInfo

__all__ = ["Heartbeater"]

_log = logging.getLogger("tradeward.heartbeat")


class Heartbeater:
    """Feeds this identity's dead-man's switch every ``interval`` seconds
    from a daemon thread, on a connection of its own.

    ``agent`` is a ``Client`` (only its socket path and timeout are used:
    the heartbeats never share, block or close the bot's own connection) or
    a socket path (``None``: ``$TRADEWARD_SOCK``). ``timeout_ms`` is sent
    with every heartbeat; ``None`` keeps the switch's current timeout, which
    only works once the switch is armed. ``interval`` must be shorter than
    the timeout; a third of it or less leaves room for a slow beat or two.

    ``start()`` sends the first heartbeat in the caller's thread, so a
    refusal (not granted, bounds, an already tripped switch) raises there,
    and then starts the thread. From then on:

    * a tripped switch (``SwitchTrippedError``) ends the thread: it is
      passed to ``on_trip`` and raised by ``check()``, and ``tripped``
      becomes true. Heartbeats cannot un-trip it; an operator must re-arm.
    * any other refusal that a retry will not fix (``forbidden``,
      ``bad_params``, ...) ends the thread the same way, through
      ``on_error`` and ``check()``.
    * retryable refusals (``journal_unavailable``, ...) and transport
      trouble (the agent restarting, a timeout) go to ``on_error`` and the
      next beat tries again, reconnecting if needed: heartbeats resume by
      themselves once the agent is back (``reconnects`` counts the new
      connections). The switch's deadline lives in the agent's journal, so
      a restart neither disarms nor extends it: keep ``interval`` well
      below ``timeout_ms`` minus the agent's restart time.

    Nothing fails silently: the error that ends the heartbeats is logged
    (logger ``tradeward.heartbeat``), passed to its handler and kept for
    ``check()``; passing errors go to ``on_error``, or to the log without
    one. Call ``check()`` from the trading loop so a trip stops the trading.

    A thread that only proves the process is alive can keep a switch fed
    while the trading loop is stuck. ``alive`` guards against that: a
    callable asked before every beat; when it returns false (or raises),
    the beat is skipped, and if that lasts past the timeout the switch
    trips, as it should.

    ``on_beat`` gets each ``HeartbeatInfo``, e.g. to post its
    ``schedule_cancel`` backups to the venue. Callbacks run on the
    heartbeat thread (``on_beat`` for the first beat runs inside
    ``start()``); an exception from ``on_beat`` goes to ``on_error`` and
    does not stop the heartbeats.

    ``stop()`` ends the thread and closes its connection. It does not
    disarm the switch (the agent has no way to): a bot that stops
    heartbeating trips after its timeout unless an operator pauses it.
    """

    def __init__(
        self,
        agent: Union[Client, str, "os.PathLike[str]", None] = None,
        interval: float = 1.0,
        timeout_ms: Optional[int] = None,
        *,
        alive: Optional[Callable[[], bool]] = None,
        on_beat: Optional[Callable[[HeartbeatInfo], None]] = None,
        on_error: Optional[Callable[[BaseException], None]] = None,
        on_trip: Optional[Callable[[SwitchTrippedError], None]] = None,
        name: str = "tradeward-heartbeat",
    ) -> None:
        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not interval > 0:
            raise ValueError("interval must be a positive number of seconds")
        if timeout_ms is not None and interval * 1000 >= timeout_ms:
            raise ValueError(
                f"interval ({interval} s) must be shorter than timeout_ms ({timeout_ms} ms), "
                "or the switch trips between two heartbeats"
            )
        if isinstance(agent, Client):
            path: Union[str, "os.PathLike[str]", None] = agent.path
            call_timeout = agent.timeout
        else:
            path = agent
            call_timeout = None
        # Long enough for a slow fsync, short enough that a hung call is
        # noticed well within a timeout of a few intervals.
        if call_timeout is None or call_timeout > max(5.0, interval):
            call_timeout = max(5.0, interval)
        # Each beat tries to reconnect for at most about one interval, so a
        # restarting agent delays no beat by more than that.
        self._client = Client(
            path,
            timeout=call_timeout,
            client_name=name,
            reconnect=Reconnect(initial_delay=0.05, max_delay=0.5, give_up_after=float(interval)),
        )
        self.interval = float(interval)
        self.timeout_ms = timeout_ms
        self._alive = alive
        self._on_beat = on_beat
        self._on_error = on_error
        self._on_trip = on_trip
        self._name = name
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[ClientError] = None
        self._last: Optional[HeartbeatInfo] = None
        self._beats = 0
        self._skipped = 0
        #: How many times the heartbeats had to open a new connection.
        self.reconnects = 0

    # -- state ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the thread is still sending heartbeats."""
        t = self._thread
        return t is not None and t.is_alive() and not self._done.is_set()

    @property
    def tripped(self) -> bool:
        """Whether the agent reported this identity's switch tripped."""
        return isinstance(self._error, SwitchTrippedError)

    @property
    def error(self) -> Optional[ClientError]:
        """The error that ended the heartbeats, if one did."""
        return self._error

    @property
    def last(self) -> Optional[HeartbeatInfo]:
        """The agent's answer to the latest successful heartbeat."""
        return self._last

    @property
    def beats(self) -> int:
        """Heartbeats the agent accepted."""
        return self._beats

    @property
    def skipped(self) -> int:
        """Beats skipped because ``alive`` said no."""
        return self._skipped

    def check(self) -> None:
        """Raise the error that ended the heartbeats (``SwitchTrippedError``
        after a trip); return quietly while they run or after ``stop()``."""
        err = self._error
        if err is not None:
            raise err

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the heartbeats end (an error, or ``stop()``);
        whether they did within ``timeout`` seconds."""
        return self._done.wait(timeout)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> "Heartbeater":
        """Send the first heartbeat now (raising if the agent refuses it),
        then keep beating from a daemon thread. Returns ``self``."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("this Heartbeater was already started")
            try:
                self._client.connect()
                info = self._client.heartbeat(self.timeout_ms)
            except BaseException:
                self._client.close()
                raise
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._deliver(info)
            self._thread.start()
        return self

    def stop(self, timeout: Optional[float] = None) -> None:
        """End the heartbeats and close their connection; waits up to
        ``timeout`` seconds (``None``: as long as it takes) for the thread.
        Safe to call more than once, and from a callback."""
        self._stop.set()
        # Closing wakes a beat that is waiting for the agent.
        self._client.close()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        if t is None:
            self._done.set()

    def __enter__(self) -> "Heartbeater":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            next_at = time.monotonic() + self.interval
            while not self._stop.wait(max(0.0, next_at - time.monotonic())):
                # A late beat is not made up for with a burst.
                next_at = max(next_at + self.interval, time.monotonic())
                if not self._beat():
                    return
        finally:
            self._client.close()
            self._done.set()

    def _beat(self) -> bool:
        """One beat; false once the heartbeats must end."""
        if self._alive is not None:
            try:
                ok = bool(self._alive())
            except Exception as e:  # noqa: BLE001 - reported, and counts as "not alive"
                self._report(e)
                ok = False
            if not ok:
                self._skipped += 1
                return True
        if self._stop.is_set():
            return False
        try:
            if not self._client.connected:
                self._client.connect(wait=self.interval)
                self.reconnects += 1
            info = self._client.heartbeat(self.timeout_ms)
        except SwitchTrippedError as e:
            self._finish(e)
            return False
        except TradewardError as e:
            if self._stop.is_set():
                return False
            if e.retryable or e.request_id is None:
                # Retryable, or a refusal of the whole connection (which
                # the client has closed): try again at the next beat.
                self._report(e)
                return True
            self._finish(e)
            return False
        except ClientError as e:
            if self._stop.is_set():
                return False
            if isinstance(e, ResponseTimeout):
                # Drop the connection rather than leave an answer nobody
                # will collect; the next beat reconnects.
                self._client.close()
            self._report(e)
            return True
        self._deliver(info)
        return True

    def _deliver(self, info: HeartbeatInfo) -> None:
        self._last = info
        self._beats += 1
        if self._on_beat is not None:
            try:
                self._on_beat(info)
            except Exception as e:  # noqa: BLE001 - reported; the heartbeats go on
                self._report(e)

    def _report(self, e: BaseException) -> None:
        if self._on_error is not None:
            try:
                self._on_error(e)
                return
            except Exception:  # noqa: BLE001 - a broken handler must not stop the beats
                _log.exception("tradeward heartbeat: on_error raised")
        _log.warning("tradeward heartbeat failed (will retry): %s", e)

    def _finish(self, e: ClientError) -> None:
        self._error = e
        handler: Optional[Callable[[Any], None]]
        if isinstance(e, SwitchTrippedError):
            handler = self._on_trip
            _log.error("tradeward dead-man's switch tripped; heartbeats stopped: %s", e.message)
        else:
            handler = self._on_error
            _log.error("tradeward heartbeats stopped: %s", e)
        if handler is not None:
            try:
                handler(e)
            except Exception:  # noqa: BLE001 - the error stays available to check()
                _log.exception("tradeward heartbeat: handler raised")
