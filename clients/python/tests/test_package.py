"""The package as a bot author meets it: ``pip install`` into a fresh venv
(from the source folder, and as a built wheel), then the README's bot
example and every Python example of docs/hyperliquid.md and docs/rest.md,
each run as written in its own process against the real agent. The venue
libraries' HTTP layer is intercepted by ``intercept/sitecustomize.py``
(nothing reaches the network), which logs each request; every Hyperliquid
body and Binance request in that log is then checked with the standard
library (``refcrypto``, ``hmac``).

It installs from PyPI (setuptools to build; the SDK and binance libraries
for the docs' drop-in examples), so it runs only with
``TRADEWARD_PACKAGE_TEST=1`` (``scripts/test.sh`` sets it) and says it is
skipped otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
REPO_ROOT = HERE.parents[2]
sys.path.insert(0, str(PACKAGE))
sys.path.insert(0, str(HERE))

import agent_harness  # noqa: E402
import refcrypto as ref  # noqa: E402
from test_hyperliquid import ADDRESS, FIXTURES, TEST_KEY  # noqa: E402

SKIP = None if os.environ.get("TRADEWARD_PACKAGE_TEST") == "1" else (
    "SKIPPED the package tests (fresh venv, pip install from PyPI): set TRADEWARD_PACKAGE_TEST=1 (scripts/test.sh does)"
)
SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_LIBRARIES = ["hyperliquid-python-sdk==0.24.0"] + [
    line.strip() for line in (HERE / "clients-requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
CONFIG = f"""
[keys.hl-main]
type = "secp256k1"
label = "hl-main"

[keys.hl-main.hyperliquid]
network = "mainnet"
meta = {json.dumps(str(FIXTURES / "meta.json"))}
spot_meta = {json.dumps(str(FIXTURES / "spot_meta.json"))}

[keys.bn]
type = "hmac"
label = "bn"

[keys.bn.rest]
venue = "binance"
markets = ["spot"]

[policy.keys.hl-main.symbols."*"]
[policy.keys.bn.symbols.BTCUSDT]
max_size = "1"
"""


def python_blocks(path: Path) -> List[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


@unittest.skipIf(SKIP is not None, SKIP or "")
class PackageTests(unittest.TestCase):
    agent: ClassVar[agent_harness.Agent]
    tmp: ClassVar[Path]
    python: ClassVar[Path]

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = Path(tempfile.mkdtemp(prefix="tw-pkg-"))
        agent = agent_harness.Agent(prefix="tw-pk-")
        try:
            agent.import_key("secp256k1", "hl-main", TEST_KEY.encode())
            agent.import_key("hmac", "bn", SECRET)
            agent.configure(
                ["hl-main", "bn"],
                ["list_keys", "hyperliquid.sign_l1_action", "rest.sign_request", "order.report", "heartbeat"],
                CONFIG,
            )
            agent.start()
        except BaseException:
            agent.cleanup()
            raise
        cls.agent = agent
        venv = cls.tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        cls.python = venv / "bin" / "python"

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            cls.agent.stop()
        finally:
            cls.agent.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def pip(self, *args: str) -> None:
        out = subprocess.run([str(self.python), "-m", "pip", "--disable-pip-version-check", "-q", *args],
                             capture_output=True, text=True, timeout=600)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def run_code(self, code: str, name: str) -> str:
        """Run ``code`` in the venv, outside the source tree, with the venue
        HTTP intercepted; its stdout."""
        script = self.tmp / f"{name}.py"
        script.write_text(code)
        env = dict(os.environ)
        env.update(
            TRADEWARD_SOCK=self.agent.sock,
            PYTHONPATH=str(HERE / "intercept"),
            TRADEWARD_TEST_HTTP_LOG=str(self.tmp / "http.log"),
            TRADEWARD_TEST_HL_FIXTURES=str(FIXTURES),
            BINANCE_API_KEY=API_KEY,
            HL_MASTER_KEY="0x" + "11" * 32,
            HL_TOKEN_ADDRESS=ADDRESS,
        )
        out = subprocess.run([str(self.python), str(script)], cwd=self.tmp, env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, f"{name} failed:\n{code}\n--- stderr:\n{out.stderr}")
        return out.stdout

    def http_log(self) -> List[Dict[str, Any]]:
        path = self.tmp / "http.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def test_install_wheel_readme_bot_and_docs_examples(self) -> None:
        # From the source folder (a copy: setuptools writes build/ and
        # *.egg-info/ beside the sources, and the checkout stays clean)...
        source = self.tmp / "source"
        shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
        self.pip("install", str(source))
        where = subprocess.run([str(self.python), "-c", "import tradeward, tradeward_client; print(tradeward.__file__)"],
                               cwd=self.tmp, capture_output=True, text=True, check=True).stdout.strip()
        self.assertTrue(where.startswith(str(self.tmp)), where)  # the installed copy, not the checkout
        self.assertTrue((Path(where).parent / "py.typed").exists())
        # ...and as a built wheel, which carries the package, its marker and the shims.
        self.pip("wheel", "--no-deps", "-w", str(self.tmp / "dist"), str(source))
        (wheel,) = (self.tmp / "dist").glob("tradeward-*.whl")
        names = zipfile.ZipFile(wheel).namelist()
        for name in ("tradeward/__init__.py", "tradeward/py.typed", "tradeward/aio.py", "tradeward_client.py",
                     "tradeward_hyperliquid.py", "tradeward/binance/sdk.py"):
            self.assertIn(name, names)
        self.pip("install", "--force-reinstall", "--no-deps", str(wheel))
        # The docs' examples, with the venue libraries they use.
        self.pip("install", *DOC_LIBRARIES)
        blocks = [(f"hyperliquid_{i}", b) for i, b in enumerate(python_blocks(REPO_ROOT / "docs" / "hyperliquid.md"))]
        blocks += [(f"rest_{i}", b) for i, b in enumerate(python_blocks(REPO_ROOT / "docs" / "rest.md"))]
        self.assertGreaterEqual(len(blocks), 9)
        for name, code in blocks:
            with self.subTest(example=name):
                self.run_code(code, name)
        # The README's bot, last: it arms the identity's dead-man's switch, which
        # trips once the bot has stopped (as the README says it would).
        (bot,) = python_blocks(PACKAGE / "README.md")[:1]
        out = self.run_code(bot, "readme_bot")
        bodies = [json.loads(line.replace("'", '"').replace("True", "true").replace("False", "false").replace("None", "null"))
                  for line in out.splitlines() if line.startswith("{")]
        self.assertEqual(len(bodies), 3, out)
        for body in bodies:
            digest = ref.hyperliquid_l1_digest(
                ref.hyperliquid_action_hash(ref.msgpack_encode(body["action"]), body["nonce"], None, None), True)
            sig = body["signature"]
            pub = ref.SECP256K1.recover(digest, int(sig["r"], 16), int(sig["s"], 16), sig["v"] - 27)
            self.assertEqual(ref.eth_address(pub), ADDRESS)
        self.check_http_log()

    def check_http_log(self) -> None:
        hl = binance = 0
        for req in self.http_log():
            url = urlsplit(req["url"])
            if url.path == "/exchange":
                body = json.loads(req["body"])
                action = body["action"]
                if action["type"] == "approveAgent":
                    continue  # signed by the master key in the example, not the token
                digest = ref.hyperliquid_l1_digest(
                    ref.hyperliquid_action_hash(ref.msgpack_encode(action), body["nonce"], body["vaultAddress"],
                                                body["expiresAfter"]), True)
                sig = body["signature"]
                pub = ref.SECP256K1.recover(digest, int(sig["r"], 16), int(sig["s"], 16), sig["v"] - 27)
                self.assertEqual(ref.eth_address(pub), ADDRESS, body)
                hl += 1
            elif "binance" in url.netloc and "signature=" in url.query:
                query, _, mac = url.query.rpartition("&signature=")
                self.assertEqual(hmac.new(SECRET, query.encode(), hashlib.sha256).hexdigest(), mac, req["url"])
                binance += 1
        self.assertGreaterEqual(hl, 2)  # the drop-in example: an order and its cancel
        self.assertGreaterEqual(binance, 5)


if __name__ == "__main__":
    unittest.main()
