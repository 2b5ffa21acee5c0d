#!/usr/bin/env python3
"""Drives an interactive shell on a real pseudo-terminal, for the microVM TUI test.

    pty_resize.py -- COMMAND [ARGS…]

Sets the terminal to 30x100, waits for a shell prompt ("# " or "$ "), types `stty size; tty`,
waits for "30 100", resizes the terminal to 40x120, types `stty size`, waits for "40 120",
then types `exit 7`. Prints everything the terminal showed (repr) and the last stage reached,
and exits with the command's exit status (or 124 after 90 s without it ending).
"""
import fcntl, os, pty, select, struct, sys, termios, time

def main():
    command = sys.argv[sys.argv.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    def size(rows, cols):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    size(30, 100)
    seen, stage, deadline = b"", 0, time.time() + 90
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.3)
        if fd in r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if stage == 0 and (b"# " in seen or b"$ " in seen):
            os.write(fd, b"stty size; tty\r")
            stage = 1
        elif stage == 1 and b"30 100" in seen:
            size(40, 120)
            time.sleep(1.0)  # the runtime polls the size every 200 ms
            os.write(fd, b"stty size\r")
            stage = 2
        elif stage == 2 and b"40 120" in seen:
            os.write(fd, b"exit 7\r")
            stage = 3
    else:
        os.kill(pid, 9)
        print(repr(seen.decode(errors="replace")))
        print("stage", stage)
        sys.exit(124)
    _, status = os.waitpid(pid, 0)
    print(repr(seen.decode(errors="replace")))
    print("stage", stage)
    sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128)

main()
