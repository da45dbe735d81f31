"""A real tradeward agent for tests: a fresh SoftHSM development token in a
temporary folder, keys made with the real ``tradeward`` binary, the agent
started as a subprocess on a real socket.

The binary is ``$TRADEWARD_BIN`` (default ``target/debug/tradeward``); the
tests build nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))

import tradeward as tw  # noqa: E402


def agent_binary() -> Path:
    env = os.environ.get("TRADEWARD_BIN")
    return Path(env).resolve() if env else REPO_ROOT / "target" / "debug" / "tradeward"


class Agent:
    """One development token and the agent serving it."""

    def __init__(self, prefix: str = "tw-") -> None:
        self.binary = agent_binary()
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError(
                f"agent binary {self.binary} not found: run `cargo build` first or set TRADEWARD_BIN"
            )
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.config = self.tmp / "tradeward.toml"
        self.sock = str(self.tmp / "run" / "agent.sock")
        if len(self.sock.encode()) > 100:
            raise RuntimeError(f"socket path too long for AF_UNIX: {self.sock} (set TMPDIR shorter)")
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.log_path = self.tmp / "agent.log"
        self.run("token", "init-dev", "--dir", str(self.tmp), "--force")
        self.starter = self.config.read_text()

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env["TRADEWARD_CONFIG"] = str(self.config)
        env["TRADEWARD_LOG"] = "info"
        env.pop("TRADEWARD_SOCK", None)
        return env

    def run(self, *args: str, stdin: Optional[bytes] = None) -> str:
        """``tradeward ARGS`` with this token's config; its stdout."""
        proc = subprocess.run(
            [str(self.binary), *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            env=self.env(),
            timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"`tradeward {' '.join(args)}` exited {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace').strip()}"
            )
        return proc.stdout.decode()

    def import_key(self, key_type: str, label: str, secret: bytes) -> Dict[str, Any]:
        out = self.run("keys", "import", "--type", key_type, "--label", label, "--json", stdin=secret)
        result: Dict[str, Any] = json.loads(out)
        return result

    def generate_key(self, key_type: str, label: str) -> Dict[str, Any]:
        out = self.run("keys", "generate", "--type", key_type, "--label", label, "--json")
        result: Dict[str, Any] = json.loads(out)
        return result

    def configure(self, keys: List[str], ops: List[str], extra: str) -> None:
        """Grant ``keys`` and ``ops`` to the starter config's identity (this
        uid) and append ``extra`` TOML (the key tables). Starts from the
        config ``init-dev`` wrote, so it may be called again."""
        text = self.starter
        starter_ops = 'ops = ["list_keys", "sign", "heartbeat"]'
        if text.count("keys = []") != 1 or text.count(starter_ops) != 1:
            raise RuntimeError(f"unexpected starter config from init-dev:\n{text}")
        text = text.replace("keys = []", "keys = [" + ", ".join(json.dumps(k) for k in keys) + "]")
        text = text.replace(starter_ops, "ops = [" + ", ".join(json.dumps(o) for o in ops) + "]")
        self.config.write_text(text + extra)
        self.config.chmod(0o600)

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "agent", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
            )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"agent exited with {self.proc.returncode} during start-up:\n{self.log_tail()}"
                )
            if os.path.exists(self.sock):
                try:
                    with tw.connect(self.sock, timeout=5) as c:
                        c.ping()
                    return
                except tw.ClientError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"agent socket did not appear within 60 s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> Optional[int]:
        """SIGTERM and wait; the exit status (``None`` if it had to be killed)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no orderly shutdown,
        answers in flight are lost."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no agent log)"

    def client(self, **kwargs: Any) -> tw.Client:
        kwargs.setdefault("timeout", 30)
        return tw.connect(self.sock, **kwargs)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
