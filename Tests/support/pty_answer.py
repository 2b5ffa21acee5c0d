#!/usr/bin/env python3
"""Runs a command on a real pseudo-terminal and answers the shell's permission prompts.

    pty_answer.py ANSWER[,ANSWER…] -- COMMAND [ARGS…]

Each time the prompt's question ("allow [o]nce, …") appears, the next answer is typed
followed by Enter. Prints everything the terminal showed to stdout and exits with the
command's exit status (or 124 after 120 s without it ending).
"""
import os, pty, select, sys, time

def main():
    sep = sys.argv.index("--")
    answers = sys.argv[1].split(",") if sys.argv[1] else []
    command = sys.argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    seen = b""
    asked = 0
    deadline = time.time() + 120
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if fd in r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            while seen.count(b"allow [o]nce") > asked and asked < len(answers):
                os.write(fd, answers[asked].encode() + b"\n")
                asked += 1
    else:
        os.kill(pid, 9)
        sys.stdout.write(seen.decode("utf-8", "replace"))
        sys.exit(124)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(seen.decode("utf-8", "replace"))
    sys.exit(os.waitstatus_to_exitcode(status))

main()
