import Foundation

/// The guest's PID 1, a busybox shell script baked into every capsule's initramfs. It loads the
/// kernel modules, finds the virtio-serial ports by name, mounts the 9p shares, says `READY` on
/// the control port (the "first message" the boot timeout waits for), runs the capsule with the
/// capsule protocol on descriptor 3 (`ELASTOS_CAPSULE_FD=3`, as native capsules get it), applies
/// the window sizes the runtime sends, and reports `EXIT <code>` before powering off.
/// Nothing secret passes through here: the session's secrets travel inside the capsule protocol.
enum GuestInit {
    /// Port and share names shared with ``QEMUCommand``.
    static let controlPort = "elastos.control", capsulePort = "elastos.capsule"
    static let stdinPort = "elastos.stdin", stdoutPort = "elastos.stdout", stderrPort = "elastos.stderr"
    static let packageTag = "elastos.capsule", launchTag = "elastos.launch", dataTag = "elastos.data"

    static let script = #"""
        #!/bin/busybox sh
        # elastos microVM guest init (PID 1), written by the runtime (Sources/ElastosRuntime/MicroVM/GuestInit.swift).
        /bin/busybox --install -s /bin
        export PATH=/bin
        mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
        mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
        rmdir /root 2>/dev/null
        say() { echo "elastos-init: $*" > /dev/ttyS0; }
        for m in $(cat /modules.order); do insmod /lib/modules/$m || say "insmod $m failed"; done
        # Ports by name: QEMU and the kernel number them in probe order.
        port() {
          for p in /sys/class/virtio-ports/*; do
            [ -e "$p/name" ] && [ "$(cat "$p/name")" = "$1" ] && { echo /dev/${p##*/}; return 0; }
          done
          return 1
        }
        i=0
        until CTL=$(port elastos.control) && [ -e "$CTL" ]; do
          i=$((i + 1)); [ $i -gt 500 ] && { say "no control port"; poweroff -f; }
          usleep 10000
        done
        CAP=$(port elastos.capsule)
        # Shares by tag; QEMU enforces read-only (readonly=on), and they are mounted ro here too.
        opts=trans=virtio,version=9p2000.L,msize=262144
        mkdir -p /capsule /data /run/elastos
        for d in /sys/bus/virtio/drivers/9pnet_virtio/virtio*; do
          tag=$(tr -d '\0' < $d/mount_tag 2>/dev/null)
          case "$tag" in
            elastos.capsule) mount -t 9p -o $opts,ro "$tag" /capsule ;;
            elastos.launch) mount -t 9p -o $opts,ro "$tag" /run/elastos ;;
            elastos.data) mount -t 9p -o $opts "$tag" /data ;;
            elastos.ro.*) mkdir -p "/mnt/${tag#elastos.ro.}" && mount -t 9p -o $opts,ro "$tag" "/mnt/${tag#elastos.ro.}" ;;
            elastos.rw.*) mkdir -p "/mnt/${tag#elastos.rw.}" && mount -t 9p -o $opts "$tag" "/mnt/${tag#elastos.rw.}" ;;
          esac
        done
        say "network interfaces: $(ls /sys/class/net | tr '\n' ' ')"
        say "mounts: $(grep 9p /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1 | tr '\n' ' ')"
        exec 4<>"$CTL"
        echo "READY $(cut -d' ' -f1 /proc/uptime)" >&4
        # Standard I/O: three ports when the user's side is not a terminal (each direction ends
        # on its own: a port whose host end has closed blocks its writers), else the virtio console.
        if IN=$(port elastos.stdin); then OUT=$(port elastos.stdout); ERR=$(port elastos.stderr); TTY=
        else IN=/dev/hvc0; OUT=/dev/hvc0; ERR=/dev/hvc0; TTY=/dev/hvc0; fi
        # Control lines from the runtime: "winsize ROWS COLS" (TIOCSWINSZ; the kernel sends SIGWINCH).
        ( while read -r op a b; do
            case "$op" in
              winsize) [ -n "$TTY" ] && stty -F "$TTY" rows "$a" cols "$b" 2>/dev/null ;;
            esac
          done <&4 ) &
        cd /capsule
        hostname capsule
        # The capsule gets PID and mount namespaces of its own: it is root in its VM, but cannot
        # see, trace or stop this init (which reports its exit), nor change the init's mounts.
        run="unshare -m -p -f --mount-proc sh /run/elastos/run.sh"
        if [ -n "$TTY" ]; then
          setsid -c $run 3<>"$CAP" 4>&- <"$IN" >"$OUT" 2>"$ERR" &
        else
          $run 3<>"$CAP" 4>&- <"$IN" >"$OUT" 2>"$ERR" &
        fi
        wait $!
        rc=$?
        echo "EXIT $rc" >&4
        sync
        poweroff -f
        """#

    /// The per-launch script the init runs (on the read-only launch share): the environment and
    /// the capsule's command line, each argument single-quoted so that any bytes pass unchanged.
    static func launchScript(entrypoint: String, arguments: [String], term: String?) -> String {
        var lines = ["export ELASTOS_CAPSULE_FD=3 HOME=/data PATH=/bin LD_LIBRARY_PATH=\(libraryPath)"]
        lines.append("export TERM=" + quote(term ?? "linux"))
        lines.append((["exec", quote("/capsule/" + entrypoint)] + arguments.map(quote)).joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }

    static var libraryPath: String { ELFDependencies.librarySearchPath.joined(separator: ":") }

    static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
