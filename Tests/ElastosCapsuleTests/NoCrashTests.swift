// Random and mutated input to the package reader, the manifest parser and the envelope parser:
// each must refuse with a typed error (or accept), never crash, hang or blow up. Deterministic
// seeds, so a failure reproduces; the coverage-guided fuzzers live in Fuzz/.

import ElastosCapsule
import ElastosCore
import Foundation
import Testing

@Suite struct NoCrashTests {
    let scratch = Scratch()

    private func validPackage() throws -> [UInt8] {
        let dir = scratch.sub("seed")
        try makeCapsule(at: dir, extraFiles: ["big.bin": randomBytes(seed: 2, 270_000), "d/e/f": [1, 2]])
        return try CapsulePackage(directory: dir).signed(by: SigningKey()).car
    }

    private func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !bytes.isEmpty:  // flip bits
                bytes[Int.random(in: bytes.indices, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            case 1 where !bytes.isEmpty:  // truncate
                bytes.removeLast(Int.random(in: 1...min(bytes.count, 64), using: &rng))
            case 2:  // insert
                let at = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(contentsOf: rng.bytes(Int.random(in: 1...8, using: &rng)), at: at)
            case 3 where bytes.count > 8:  // delete a run
                let at = Int.random(in: 0..<(bytes.count - 4), using: &rng)
                bytes.removeSubrange(at..<(at + Int.random(in: 1...4, using: &rng)))
            case 4 where !bytes.isEmpty:  // interesting values (varint edges, CBOR heads)
                bytes[Int.random(in: bytes.indices, using: &rng)] = [0x00, 0x7F, 0x80, 0xFF, 0xA2, 0xD8, 0x2A, 0x58, 0x12, 0x20].randomElement(using: &rng)!
            default:  // duplicate a slice
                if bytes.count > 16 {
                    let at = Int.random(in: 0..<(bytes.count - 16), using: &rng)
                    bytes.insert(contentsOf: bytes[at..<(at + 16)], at: Int.random(in: 0...bytes.count, using: &rng))
                }
            }
        }
        return bytes
    }

    @Test func thePackageReaderRefusesRandomAndMutatedBytesWithoutCrashing() throws {
        var rng = SplitMix64(seed: 0xCA95)
        let valid = try validPackage()
        var accepted = 0
        for i in 0..<800 {
            let input = i % 5 == 0 ? rng.bytes(Int.random(in: 0...512, using: &rng)) : mutate(valid, &rng)
            do {
                let package = try CapsulePackage(car: input)
                // Anything that reads must be exactly canonical: re-encoding gives the input back.
                #expect(package.car == input)
                accepted += 1
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        #expect(accepted < 10)
    }

    @Test func theManifestParserRefusesRandomAndMutatedTextWithoutCrashing() {
        var rng = SplitMix64(seed: 0x3A1F)
        let valid = Array(manifestJSON(type: "data", entrypoint: "a/b", extra: #","description":"d\u00e9","capabilities":[{"resource":"elastos://did/*","actions":["read"],"reason":"r"}],"limits":{"memory_mb":1,"max_fuel":5},"viewer":"v""#).utf8)
        #expect((try? CapsuleManifest(json: valid)) != nil)
        for i in 0..<4000 {
            let input = i % 4 == 0 ? rng.bytes(Int.random(in: 0...256, using: &rng)) : mutate(valid, &rng)
            do {
                _ = try CapsuleManifest(json: input)
            } catch {
                #expect(!error.description.isEmpty)
            }
            _ = try? CapsuleSignature(envelope: input)
        }
    }

    @Test func deeplyNestedOrHugeJSONIsRefusedQuickly() {
        let deep = Array((String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000)).utf8)
        #expect(throws: ManifestError.self) { try CapsuleManifest(json: deep) }
        let arrays = Array((String(repeating: "[", count: 100_000)).utf8)
        #expect(throws: CapsuleError.self) { try CapsuleSignature(envelope: arrays) }
    }
}
