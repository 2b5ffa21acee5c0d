"""Helpers the py-libp2p interop scripts share (identify_py.py so far): checks, and running `elastos node` / `elastos peer`."""
import re
import subprocess
import time

import trio

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


def summary():
    """Prints the closing "N passed, M failed" line; returns the exit status."""
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


async def read_lines_until(proc, pattern, seconds):
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        line = await trio.to_thread.run_sync(proc.stderr.readline)
        if not line:
            break
        text = line.decode(errors="replace").rstrip()
        seen.append(text)
        m = re.search(pattern, text)
        if m:
            return m, seen
    return None, seen


def start_node(elastos, home, *extra):
    return subprocess.Popen(
        ["timeout", "120", elastos, "node", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


async def cli(elastos, home, *args):
    proc = await trio.run_process(["timeout", "60", elastos, "peer", *args, "--home", home],
                                  capture_stdout=True, capture_stderr=True, check=False)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


async def wait_for(condition, seconds, step=0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return True
        await trio.sleep(step)
    return False
