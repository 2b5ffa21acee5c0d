// Section "storage": the encrypted store (docs/STORAGE.md) against plain files, in the same
// directory and the same run.
//
//   8a. write throughput: `EncryptedStore.write` (seal, object temp file + fsync + rename +
//       directory fsync, index temp file + fsync + rename + directory fsync, unlink of the old
//       object) against a plain `open(O_TRUNC)` + `write` + `fsync` + `close` of the same bytes;
//   8a′. the same write against a crash-safe plain write (temp + write + fsync + rename + dir fsync);
//   8b. read throughput: `EncryptedStore.read` (index, cached while its file is unchanged; the
//       object read and opened segment by segment) against a plain `open` + `read` + `close`.
//   8b′. the same 16 MiB reads from disk: both sides' files dropped from the page cache first;
//   8c. (below) capability-checked storage calls through the runtime's session handler.
// For 4 KiB and 16 MiB objects. Sides alternate in chunks (`Timing.paired`) so both see the same
// load; each round yields both rates and their ratio; medians are reported.

#if canImport(Glibc)
import Glibc
#endif
import CapsuleWire
import Crypto
import ElastosCore
import ElastosNode
import ElastosRuntime
import ElastosStorage
import Foundation

extension Bench {
    func storage(_ rows: inout [Row], scratch: TempDir) {
        print()
        print("8. encrypted storage vs plain files (\(Machine.fileSystem(at: scratch.path)))")
        let store: EncryptedStore
        do { store = try EncryptedStore(directory: scratch.path + "/storage") } catch {
            print("  cannot open the store: \(error)"); return
        }
        // Where the time goes: AES-256-GCM alone, in memory, on 16 MiB.
        do {
            let key = SymmetricKey(size: .bits256)
            let data = [UInt8](repeating: 7, count: 16 << 20)
            let box = try! AES.GCM.seal(data, using: key)
            let sealRate = Timing.measure(plan) { secs in Timing.rate(seconds: secs) { _ in _ = try! AES.GCM.seal(data, using: key) } }
            let openRate = Timing.measure(plan) { secs in Timing.rate(seconds: secs) { _ in _ = try! AES.GCM.open(box, using: key) } }
            print("  AES-256-GCM in memory, 16 MiB: seal " + String(format: "%.0f MB/s", sealRate.median * 16.777216)
                  + ", open " + String(format: "%.0f MB/s", openRate.median * 16.777216))
        }
        let plainDirectory = scratch.path + "/plain"
        mkdir(plainDirectory, 0o700)
        for (label, size, chunk, perRound) in [("4 KiB", 4 << 10, 20, Int.max), ("16 MiB", 16 << 20, 1, plan.quick ? 2 : 4)] {
            var payload = [UInt8](repeating: 0, count: size)
            for i in payload.indices { payload[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
            let slots = 4
            let addresses = (0..<slots).map { try! StorageAddress(parsing: "apps/bench/\(label.replacingOccurrences(of: " ", with: ""))/object-\($0)") }
            let plainPaths = (0..<slots).map { plainDirectory + "/\(size)-\($0)" }
            for i in 0..<slots { try! store.write(payload, to: addresses[i]); plainWrite(payload, plainPaths[i]) }

            var writes: [(Double, Double)] = [], reads: [(Double, Double)] = [], atomic: [(Double, Double)] = []
            let seconds = perRound == .max ? plan.roundSeconds : .infinity
            for _ in 0..<plan.rounds {
                writes.append(Timing.paired(count: perRound, seconds: seconds, chunk: chunk,
                                            { i in try! store.write(payload, to: addresses[i % slots]) },
                                            { i in plainWrite(payload, plainPaths[i % slots]) }))
                atomic.append(Timing.paired(count: perRound, seconds: seconds, chunk: chunk,
                                            { i in try! store.write(payload, to: addresses[i % slots]) },
                                            { i in plainAtomicWrite(payload, plainPaths[i % slots]) }))
                reads.append(Timing.paired(count: perRound, seconds: seconds, chunk: chunk,
                                           { i in precondition(try! store.read(addresses[i % slots]).count == size) },
                                           { i in precondition(plainRead(plainPaths[i % slots]) == size) }))
            }
            // Reads from disk: every file of both sides dropped from the page cache before each
            // read (outside the timed part), for the large size only.
            var coldReads: [(Double, Double)] = []
            if size >= 16 << 20 {
                let everything = [scratch.path + "/storage", plainDirectory]
                for _ in 0..<plan.rounds {
                    var te = Duration.zero, tp = Duration.zero
                    for i in 0..<perRound {
                        dropFromPageCache(everything)
                        let t0 = ContinuousClock.now
                        precondition(try! store.read(addresses[i % slots]).count == size)
                        te += ContinuousClock.now - t0
                        dropFromPageCache(everything)
                        let t1 = ContinuousClock.now
                        precondition(plainRead(plainPaths[i % slots]) == size)
                        tp += ContinuousClock.now - t1
                    }
                    coldReads.append((Double(perRound) / te.seconds, Double(perRound) / tp.seconds))
                }
            }
            var kinds = [("write", writes), ("write vs atomic", atomic), ("read", reads)]
            if !coldReads.isEmpty { kinds.append(("read from disk", coldReads)) }
            for (kind, pairs) in kinds {
                let mb = Double(size) / 1e6
                let encrypted = Measurement(rates: pairs.map { $0.0 * mb })
                let plain = Measurement(rates: pairs.map { $0.1 * mb })
                let ratio = Measurement(rates: pairs.map { $0.0 / $0.1 })
                print("  " + Format.pad("\(kind) \(label), encrypted", 34) + Format.padLeft(String(format: "%.1f MB/s", encrypted.median), 14)
                      + "   plain " + Format.padLeft(String(format: "%.1f MB/s", plain.median), 12)
                      + "   ratio " + Format.ratio(ratio.median))
                print("      ratio rounds: " + ratio.rates.map { Format.ratio($0) }.joined(separator: ", ")
                      + "  (spread " + Format.percent(ratio.spread) + ")")
                let large = size >= 16 << 20 && kind != "write vs atomic" && kind != "read"
                rows.append(Row(figure: "storage \(kind) \(label): encrypted / plain",
                                median: String(format: "%.1f / %.1f MB/s = ", encrypted.median, plain.median) + Format.ratio(ratio.median),
                                target: large ? "≥ 0.80×" : "—", pass: large ? ratio.median >= 0.8 : nil))
            }
        }
    }
}

/// The baseline write: replace the file's content and make it durable.
func plainWrite(_ bytes: [UInt8], _ path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    precondition(fd >= 0)
    bytes.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count { let n = write(fd, raw.baseAddress! + off, raw.count - off); precondition(n > 0); off += n }
    }
    precondition(fsync(fd) == 0)
    close(fd)
}

/// A crash-safe plain write, for context: temp file, write, fsync, rename, directory fsync.
func plainAtomicWrite(_ bytes: [UInt8], _ path: String) {
    let tmp = path + ".tmp"
    plainWrite(bytes, tmp)
    precondition(rename(tmp, path) == 0)
    let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    precondition(dir >= 0 && fsync(dir) == 0)
    close(dir)
}

/// Drops every regular file under `roots` from the page cache (clean pages only: the files were
/// fsynced when written).
func dropFromPageCache(_ roots: [String]) {
    for root in roots {
        guard let names = FileManager.default.enumerator(atPath: root) else { continue }
        for case let name as String in names {
            let fd = open(root + "/" + name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { continue }
            _ = fdatasync(fd)
            _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
            close(fd)
        }
    }
}

/// The baseline read: the whole file into a fresh buffer.
func plainRead(_ path: String) -> Int {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    precondition(fd >= 0)
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    let size = Int(st.st_size)
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
        var got = 0
        while got < size { let n = read(fd, buffer.baseAddress! + got, size - got); if n <= 0 { break }; got += n }
        count = got
    }
    return bytes.count
}

// 8c. capability-checked storage calls: `SessionHandler.handle(.call(…))` on a real node (its
//     persistent ledger and audit log in a scratch home), so each call is parsed, routed, passes
//     the twelve checks with the session as caller and reaches `StorageProvider`, against
//     `EncryptedStore.read`/`stat` called directly on the same store, alternating in chunks.

extension Bench {
    func storageCalls(_ rows: inout [Row], scratch: TempDir) {
        print()
        print("8c. capability-checked storage calls (a real node's ledger and audit log)")
        let node: Node
        do { node = try Node(home: NodeHome(path: scratch.path + "/calls-home")) } catch {
            print("  cannot open a node: \(error)"); return
        }
        defer { try? node.close() }
        let store: EncryptedStore
        let router: ProviderRouter
        do {
            store = try EncryptedStore(home: node.home)
            router = try ProviderRouter([(StorageProvider.prefix, StorageProvider(store: store))])
        } catch {
            print("  cannot open the store: \(error)"); return
        }
        let session = Session(capsule: "bench", version: "1", cid: "", publisher: "", trust: .trusted, substrate: "bench",
                              startedAt: Node.systemClock())
        let handler = SessionHandler(session: session, node: node, router: router,
                                     policy: DeclaredCapabilityPolicy(allowDeclared: false), declared: [])
        let token: [UInt8]
        do {
            token = try node.issue(Grant(holder: session.principal, resource: try ResourcePattern("localhost://storage/apps/bench/*"),
                                         actions: ActionSet([.read, .write]), expiry: Node.systemClock() + 3600)).encoded
        } catch {
            print("  cannot issue a token: \(error)"); return
        }
        let uri = "localhost://storage/apps/bench/calls/note"
        let address = try! StorageAddress(parsing: "apps/bench/calls/note")
        let payload = [UInt8](repeating: 0x61, count: 4 << 10)
        try! store.write(payload, to: address)
        var failures = 0
        for (label, body) in [("read 4 KiB", [UInt8]()), ("stat", Array("stat".utf8))] {
            var pairs: [(Double, Double)] = []
            for _ in 0..<plan.rounds {
                pairs.append(Timing.paired(seconds: plan.roundSeconds, chunk: 50, { i in
                    if case .error = handler.handle(.call(uri: uri, action: .read, token: token, body: body), id: UInt32(truncatingIfNeeded: i)) {
                        failures += 1
                    }
                }, { _ in
                    if body.isEmpty { precondition(try! store.read(address).count == payload.count) } else { _ = try! store.stat(address) }
                }))
            }
            let checked = Measurement(rates: pairs.map(\.0)), direct = Measurement(rates: pairs.map(\.1))
            let ratio = Measurement(rates: pairs.map { $0.0 / $0.1 })
            print("  " + Format.pad("\(label), checked call", 34) + Format.padLeft(Format.rate(checked.median), 14)
                  + "   direct " + Format.padLeft(Format.rate(direct.median), 12) + "   ratio " + Format.ratio(ratio.median))
            print("      checked rounds: " + checked.rates.map { Format.count($0) }.joined(separator: ", ")
                  + "  (spread " + Format.percent(checked.spread) + ")")
            rows.append(Row(figure: "storage \(label): checked calls/s (direct)",
                            median: Format.rate(checked.median) + " (" + Format.rate(direct.median) + ")", target: "—", pass: nil))
        }
        if failures > 0 { print("      !! \(failures) checked calls failed: figure is invalid") }
    }
}
