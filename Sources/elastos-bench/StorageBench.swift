// Section "storage": the encrypted store (docs/STORAGE.md) against plain files, in the same
// directory and the same run.
//
//   8a. write throughput: `EncryptedStore.write` (seal, object temp file + fsync + rename +
//       directory fsync, index temp file + fsync + rename + directory fsync, unlink of the old
//       object) against a plain `open(O_TRUNC)` + `write` + `fsync` + `close` of the same bytes;
//   8a′. the same write against a crash-safe plain write (temp + write + fsync + rename + dir fsync);
//   8b. read throughput: `EncryptedStore.read` (index load and authentication, whole-object read,
//       AES-GCM open) against a plain `open` + `read` + `close` into a buffer.
// For 4 KiB and 16 MiB objects. Sides alternate in chunks (`Timing.paired`) so both see the same
// load; each round yields both rates and their ratio; medians are reported.

#if canImport(Glibc)
import Glibc
#endif
import Crypto
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
            for (kind, pairs) in [("write", writes), ("write vs atomic", atomic), ("read", reads)] {
                let mb = Double(size) / 1e6
                let encrypted = Measurement(rates: pairs.map { $0.0 * mb })
                let plain = Measurement(rates: pairs.map { $0.1 * mb })
                let ratio = Measurement(rates: pairs.map { $0.0 / $0.1 })
                print("  " + Format.pad("\(kind) \(label), encrypted", 34) + Format.padLeft(String(format: "%.1f MB/s", encrypted.median), 14)
                      + "   plain " + Format.padLeft(String(format: "%.1f MB/s", plain.median), 12)
                      + "   ratio " + Format.ratio(ratio.median))
                print("      ratio rounds: " + ratio.rates.map { Format.ratio($0) }.joined(separator: ", ")
                      + "  (spread " + Format.percent(ratio.spread) + ")")
                let large = size >= 16 << 20 && kind != "write vs atomic"
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
