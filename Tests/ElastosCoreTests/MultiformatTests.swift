// Tests for Sources/ElastosCore/Multiformats: unsigned-varint, base58btc/base32/base36,
// multibase, multihash, CID and single-block UnixFS, against the vectors in Vectors/ (checked
// against kubo, py-multiformats, go-libp2p) plus strictness and no-crash fuzz tests.

import ElastosCore
import Foundation
import Testing

// MARK: - Vectors

private struct ContentVectors: Decodable {
    struct File: Decodable {
        let content_utf8: String
        let sha256_hex: String
        let cidv0_dagpb: String
        let cidv1_dagpb: String
        let cidv1_raw: String
    }
    let files: [File]
}

private struct IdentityVectors: Decodable {
    struct Seed: Decodable {
        let public_key_hex: String
        let libp2p_public_key_protobuf_hex: String
        let libp2p_peer_id: String
        let libp2p_peer_id_cidv1_base36: String
        let libp2p_peer_id_cidv1_base32: String
    }
    let seed_00_to_1f: Seed
}

private func loadVectors<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors"))
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

private func bytesFromHex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        bytes.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
    }
    return bytes
}

private func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// Deterministic generator so a failing fuzz case reproduces.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private extension SplitMix64 {
    mutating func bytes(count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}

private func allVectorCIDs() throws -> [String] {
    let content = try loadVectors("content", as: ContentVectors.self)
    let identity = try loadVectors("identity", as: IdentityVectors.self).seed_00_to_1f
    return content.files.flatMap { [$0.cidv0_dagpb, $0.cidv1_dagpb, $0.cidv1_raw] }
        + [identity.libp2p_peer_id_cidv1_base36, identity.libp2p_peer_id_cidv1_base32]
}

// MARK: - CIDs from the vectors

@Suite struct MultiformatVectorTests {
    @Test func contentVectorsFormatAsKuboAndParseBackToTheSameCID() throws {
        let vectors = try loadVectors("content", as: ContentVectors.self)
        #expect(vectors.files.count == 3)
        for file in vectors.files {
            let content = Array(file.content_utf8.utf8)
            #expect(Multihash.sha256(of: content).digest == bytesFromHex(file.sha256_hex))

            let v0 = try UnixFS.fileCID(content, version: .v0)
            let v1 = try UnixFS.fileCID(content, version: .v1)
            let raw = CID.rawFile(content)
            #expect(v0.description == file.cidv0_dagpb)
            #expect(v1.description == file.cidv1_dagpb)
            #expect(raw.description == file.cidv1_raw)
            #expect(raw.multihash.digest == bytesFromHex(file.sha256_hex))

            for (cid, text) in [(v0, file.cidv0_dagpb), (v1, file.cidv1_dagpb), (raw, file.cidv1_raw)] {
                let parsed = try CID(string: text)
                #expect(parsed == cid)
                #expect(parsed.description == text)
                #expect(try CID(bytes: cid.bytes) == cid)
                #expect(CID(text) == cid)
            }
            #expect(v0.version == .v0 && v0.codec == .dagPB)
            #expect(v1.version == .v1 && v1.codec == .dagPB && v1.multihash == v0.multihash)
            #expect(raw.version == .v1 && raw.codec == .raw)
        }
    }

    @Test func emptyFileBlockIsTheKuboBlockWithoutADataField() throws {
        #expect(UnixFS.singleBlockFile([]) == [0x0a, 0x04, 0x08, 0x02, 0x18, 0x00])
        let hello = UnixFS.singleBlockFile(Array("hello world\n".utf8))
        #expect(hexString(hello) == "0a120802120c" + hexString(Array("hello world\n".utf8)) + "180c")
    }

    @Test func cidv0BinaryFormIsTheBareMultihash() throws {
        let cid = try UnixFS.fileCID([], version: .v0)
        #expect(cid.bytes.count == 34)
        #expect(Array(cid.bytes.prefix(2)) == [0x12, 0x20])
        #expect(cid.string(in: .base32Lower) == cid.description)
        #expect(cid.string(in: .base36Lower).hasPrefix("Qm"))
    }

    @Test func peerIDCIDsParseAsLibp2pKeyWithIdentityMultihashOfThePublicKey() throws {
        let seed = try loadVectors("identity", as: IdentityVectors.self).seed_00_to_1f
        let publicKeyProtobuf = bytesFromHex(seed.libp2p_public_key_protobuf_hex)
        let expected = try CID(version: .v1, codec: .libp2pKey, multihash: .identity(publicKeyProtobuf))
        for (text, base) in [
            (seed.libp2p_peer_id_cidv1_base36, Multibase.base36Lower),
            (seed.libp2p_peer_id_cidv1_base32, Multibase.base32Lower),
        ] {
            let cid = try CID(string: text)
            #expect(cid.version == .v1)
            #expect(cid.codec == .libp2pKey)
            #expect(cid.multihash.code == .identityHash)
            #expect(cid.multihash.digest == publicKeyProtobuf)
            #expect(cid == expected)
            #expect(cid.string(in: base) == text)
        }
        #expect(expected.description == seed.libp2p_peer_id_cidv1_base32)
        #expect(Array(publicKeyProtobuf.suffix(32)) == bytesFromHex(seed.public_key_hex))
    }

    @Test func base58OfIdentityMultihashIsThePeerID() throws {
        let seed = try loadVectors("identity", as: IdentityVectors.self).seed_00_to_1f
        let multihash = try Multihash.identity(bytesFromHex(seed.libp2p_public_key_protobuf_hex))
        #expect(Base58.encode(multihash.bytes) == seed.libp2p_peer_id)
        #expect(try Multihash(bytes: Base58.decode(seed.libp2p_peer_id)) == multihash)
    }

    @Test func singleBlockFileReadsBackToItsContent() throws {
        var rng = SplitMix64(seed: 7)
        for count in [0, 1, 2, 127, 128, 1000, 16_384, UnixFS.maxSingleBlockFileSize] {
            let content = rng.bytes(count: count)
            #expect(try UnixFS.fileContent(ofSingleBlock: UnixFS.singleBlockFile(content)) == content)
        }
    }
}

// MARK: - Varint

@Suite struct MultiformatVarintTests {
    @Test func varintRoundTripsAtByteBoundaries() throws {
        let cases: [(UInt64, Int)] = [
            (0, 1), (1, 1), (127, 1), (128, 2), (255, 2), (300, 2), (16_383, 2), (16_384, 3),
            (2_097_151, 3), (2_097_152, 4), (UInt64(UInt32.max), 5), ((1 << 56) - 1, 8),
            (1 << 56, 9), (Varint.maxValue, 9),
        ]
        for (value, length) in cases {
            let encoded = Varint.encode(value)
            #expect(encoded.count == length, "length of \(value)")
            var offset = 0
            #expect(try Varint.decode(encoded, offset: &offset) == value)
            #expect(offset == encoded.count)
        }
        #expect(Varint.encode(0) == [0x00])
        #expect(Varint.encode(128) == [0x80, 0x01])
        #expect(Varint.encode(300) == [0xac, 0x02])
        #expect(Varint.encode(Varint.maxValue) == [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
    }

    @Test func varintDecodesAtAnOffsetAndAdvancesPastIt() throws {
        let bytes: [UInt8] = [0xff, 0x80, 0x01, 0x05]
        var offset = 1
        #expect(try Varint.decode(bytes, offset: &offset) == 128)
        #expect(offset == 3)
        #expect(try Varint.decode(bytes, offset: &offset) == 5)
        #expect(offset == 4)
    }

    @Test func varintRejectsTruncatedInputAndLeavesOffsetUnchanged() {
        for bytes: [UInt8] in [[], [0x80], [0xff, 0xff], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]] {
            var offset = 0
            #expect(throws: MultiformatError.varintTruncated) { try Varint.decode(bytes, offset: &offset) }
            #expect(offset == 0)
        }
        var past = 5
        #expect(throws: MultiformatError.varintTruncated) { try Varint.decode([0x01], offset: &past) }
        var negative = -1
        #expect(throws: MultiformatError.varintTruncated) { try Varint.decode([0x01], offset: &negative) }
    }

    @Test func varintRejectsMoreThanNineBytes() {
        var offset = 0
        #expect(throws: MultiformatError.varintOverflow) {
            try Varint.decode([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], offset: &offset)
        }
        // UInt64.max and 2^63 need ten bytes, beyond the spec's 63 bits.
        for value in [UInt64.max, 1 << 63] {
            let encoded = Varint.encode(value)
            #expect(encoded.count == 10)
            var start = 0
            #expect(throws: MultiformatError.varintOverflow) { try Varint.decode(encoded, offset: &start) }
        }
    }

    @Test func varintRejectsNonMinimalEncodings() {
        for bytes: [UInt8] in [[0x80, 0x00], [0x81, 0x00], [0xff, 0x80, 0x00], [0x80, 0x80, 0x80, 0x00]] {
            var offset = 0
            #expect(throws: MultiformatError.varintNotMinimal) { try Varint.decode(bytes, offset: &offset) }
        }
    }
}

// MARK: - Bases

@Suite struct MultiformatBaseTests {
    static func randomByteStrings() -> [[UInt8]] {
        var rng = SplitMix64(seed: 1)
        var strings: [[UInt8]] = [[], [0], [0, 0], [0, 0, 1], [255], [0, 255, 0]]
        for _ in 0..<300 {
            let zeros = Int.random(in: 0...3, using: &rng)
            strings.append([UInt8](repeating: 0, count: zeros) + rng.bytes(count: Int.random(in: 0...80, using: &rng)))
        }
        return strings
    }

    @Test func base58RoundTripsRandomBytesIncludingLeadingZeros() throws {
        for bytes in Self.randomByteStrings() {
            let text = Base58.encode(bytes)
            #expect(try Base58.decode(text) == bytes)
            let zeros = bytes.prefix { $0 == 0 }.count
            #expect(text.prefix { $0 == "1" }.count == zeros)
        }
        #expect(Base58.encode(Array("Hello World!".utf8)) == "2NEpo7TZRRrLZSi2U")
        #expect(Base58.encode([0, 0, 0x28, 0x7f, 0xb4, 0xcd]) == "11233QC4")
    }

    /// The textbook byte-at-a-time base-x conversion, to check the limb-based one against.
    static func referenceBaseX(_ bytes: [UInt8], alphabet: String) -> String {
        let characters = Array(alphabet)
        let radix = characters.count
        let zeros = bytes.prefix { $0 == 0 }.count
        var digits: [Int] = []
        for byte in bytes[zeros...] {
            var carry = Int(byte)
            for index in digits.indices {
                carry += digits[index] << 8
                digits[index] = carry % radix
                carry /= radix
            }
            while carry > 0 {
                digits.append(carry % radix)
                carry /= radix
            }
        }
        return String(repeating: characters[0], count: zeros) + String(digits.reversed().map { characters[$0] })
    }

    @Test func base58AndBase36MatchTheTextbookConversion() throws {
        var rng = SplitMix64(seed: 3)
        var inputs = Self.randomByteStrings()
        for count in 1...40 {
            inputs.append([UInt8](repeating: 0xff, count: count))
            inputs.append([1] + [UInt8](repeating: 0, count: count))
        }
        inputs.append(rng.bytes(count: 2000))
        for bytes in inputs {
            let base58 = Self.referenceBaseX(bytes, alphabet: "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
            #expect(Base58.encode(bytes) == base58)
            #expect(try Base58.decode(base58) == bytes)
            let base36 = Self.referenceBaseX(bytes, alphabet: "0123456789abcdefghijklmnopqrstuvwxyz")
            #expect(Base36.encode(bytes) == base36)
            #expect(try Base36.decode(base36) == bytes)
        }
    }

    @Test func base58DecodeAcceptsALargerLimitWhenAskedTo() throws {
        var rng = SplitMix64(seed: 5)
        let bytes = rng.bytes(count: 16 * 1024)
        let text = Base58.encode(bytes)
        #expect(text.utf8.count > Multibase.maxTextLength)
        #expect(throws: MultiformatError.inputTooLarge(limit: Multibase.maxTextLength)) { try Base58.decode(text) }
        #expect(try Base58.decode(text, maxLength: 24 * 1024) == bytes)
    }

    @Test func base32RoundTripsRandomBytesAndMatchesRFC4648() throws {
        for bytes in Self.randomByteStrings() {
            #expect(try Base32.decode(Base32.encode(bytes)) == bytes)
        }
        // RFC 4648 section 10, lower case without padding.
        let rfc: [(String, String)] = [
            ("", ""), ("f", "my"), ("fo", "mzxq"), ("foo", "mzxw6"), ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"), ("foobar", "mzxw6ytboi"),
        ]
        for (plain, encoded) in rfc {
            #expect(Base32.encode(Array(plain.utf8)) == encoded)
            #expect(try Base32.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test func base36RoundTripsRandomBytesIncludingLeadingZeros() throws {
        for bytes in Self.randomByteStrings() {
            let text = Base36.encode(bytes)
            #expect(try Base36.decode(text) == bytes)
            #expect(text.prefix { $0 == "0" }.count == bytes.prefix { $0 == 0 }.count)
        }
        #expect(Base36.encode([0xff]) == "73")
    }

    @Test func multibaseRoundTripsInEveryBase() throws {
        for bytes in Self.randomByteStrings().prefix(100) {
            for base in Multibase.allCases {
                let text = Multibase.encode(bytes, as: base)
                #expect(text.first == base.rawValue)
                let decoded = try Multibase.decode(text)
                #expect(decoded.base == base)
                #expect(decoded.bytes == bytes)
            }
        }
    }

    @Test func base58RejectsCharactersOutsideTheBitcoinAlphabet() {
        for bad: Character in ["0", "O", "I", "l", " ", "+", "é", "\n"] {
            #expect(throws: MultiformatError.invalidCharacter(bad, base: "base58btc")) {
                try Base58.decode("2NEpo" + String(bad) + "7TZ")
            }
        }
    }

    @Test func base32RejectsUpperCasePaddingAndNonCanonicalTails() {
        #expect(throws: MultiformatError.invalidCharacter("M", base: "base32")) { try Base32.decode("Mzxq") }
        #expect(throws: MultiformatError.invalidCharacter("=", base: "base32")) { try Base32.decode("my======") }
        #expect(throws: MultiformatError.invalidCharacter("1", base: "base32")) { try Base32.decode("my1") }
        // Lengths 1, 3 and 6 (mod 8) leave a whole character that encodes no byte.
        for text in ["m", "mzx", "mzxw6y", "mzxw6ytbm"] {
            #expect(throws: MultiformatError.invalidBaseEncoding(base: "base32")) { try Base32.decode(text) }
        }
        // "mz" would also decode to "f" if trailing bits were ignored.
        #expect(throws: MultiformatError.invalidBaseEncoding(base: "base32")) { try Base32.decode("mz") }
    }

    @Test func base36RejectsUpperCase() {
        #expect(throws: MultiformatError.invalidCharacter("A", base: "base36")) { try Base36.decode("7A") }
    }

    @Test func decodersRejectTextPastTheLengthCap() throws {
        let long = String(repeating: "a", count: Multibase.maxTextLength + 1)
        let limit = MultiformatError.inputTooLarge(limit: Multibase.maxTextLength)
        #expect(throws: limit) { try Base58.decode(long) }
        #expect(throws: limit) { try Base32.decode(long) }
        #expect(throws: limit) { try Base36.decode(long) }
        #expect(throws: limit) { try Multibase.decode("b" + long) }
        #expect(throws: limit) { try CID(string: "b" + long) }
        #expect(try Base32.decode(String(repeating: "a", count: Multibase.maxTextLength)).count == 2560)
    }

    @Test func multibaseRejectsEmptyTextAndUnsupportedPrefixes() {
        #expect(throws: MultiformatError.emptyInput) { try Multibase.decode("") }
        for prefix: Character in ["B", "K", "Z", "f", "m", "u", "Q", "1", "é"] {
            #expect(throws: MultiformatError.unsupportedMultibase(prefix: prefix)) {
                try Multibase.decode(String(prefix) + "afy")
            }
        }
    }
}

// MARK: - Multihash and CID rejections

@Suite struct MultiformatRejectionTests {
    static let digest = [UInt8](repeating: 0xab, count: 32)

    @Test func multihashAcceptsOnlySha256AndBoundedIdentity() throws {
        #expect(throws: MultiformatError.unknownMultihash(code: 0x13)) {
            try Multihash(code: Multicodec(rawValue: 0x13), digest: Self.digest)
        }
        #expect(throws: MultiformatError.digestLengthMismatch(expected: 32, actual: 31)) {
            try Multihash(code: .sha2_256, digest: Array(Self.digest.dropLast()))
        }
        #expect(throws: MultiformatError.identityDigestTooLong(length: 129, limit: 128)) {
            try Multihash.identity([UInt8](repeating: 1, count: 129))
        }
        #expect(try Multihash.identity([UInt8](repeating: 1, count: 128)).digest.count == 128)
        #expect(try Multihash.identity([]).bytes == [0x00, 0x00])
    }

    @Test func multihashBytesRejectWrongLengthsTruncationAndTrailingBytes() throws {
        let good = try Multihash(code: .sha2_256, digest: Self.digest).bytes
        #expect(try Multihash(bytes: good).digest == Self.digest)
        #expect(throws: MultiformatError.emptyInput) { try Multihash(bytes: []) }
        #expect(throws: MultiformatError.trailingBytes(count: 2)) { try Multihash(bytes: good + [0, 0]) }
        #expect(throws: MultiformatError.truncated) { try Multihash(bytes: Array(good.dropLast())) }
        #expect(throws: MultiformatError.digestLengthMismatch(expected: 32, actual: 20)) {
            try Multihash(bytes: [0x12, 0x14] + [UInt8](repeating: 0, count: 20))
        }
        #expect(throws: MultiformatError.unknownMultihash(code: 0x1b)) { try Multihash(bytes: [0x1b, 0x20] + Self.digest) }
        #expect(throws: MultiformatError.identityDigestTooLong(length: 200, limit: 128)) {
            try Multihash(bytes: [0x00, 0xc8, 0x01] + [UInt8](repeating: 0, count: 200))
        }
        // A huge declared length is refused before it is used as a size.
        #expect(throws: MultiformatError.identityDigestTooLong(length: Int.max, limit: 128)) {
            try Multihash(bytes: [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
        }
        #expect(throws: MultiformatError.varintNotMinimal) { try Multihash(bytes: [0x92, 0x00, 0x20] + Self.digest) }
    }

    @Test func multihashDecodeLeavesOffsetUnchangedOnFailure() throws {
        var offset = 0
        #expect(throws: MultiformatError.truncated) { try Multihash.decode([0x12, 0x20, 1, 2], offset: &offset) }
        #expect(offset == 0)
    }

    @Test func cidAcceptsOnlyRawDagPBAndLibp2pKeyCodecs() throws {
        let multihash = Multihash.sha256(of: [1, 2, 3])
        for codec in [Multicodec.raw, .dagPB, .libp2pKey] {
            let cid = try CID(version: .v1, codec: codec, multihash: multihash)
            #expect(try CID(bytes: cid.bytes) == cid)
        }
        #expect(throws: MultiformatError.unknownCodec(code: 0x71)) {
            try CID(version: .v1, codec: Multicodec(rawValue: 0x71), multihash: multihash)
        }
        #expect(throws: MultiformatError.unknownCodec(code: 0x71)) { try CID(bytes: [0x01, 0x71] + multihash.bytes) }
        #expect(throws: MultiformatError.unknownCodec(code: 0xed)) { try CID(bytes: [0x01, 0xed, 0x01] + multihash.bytes) }
    }

    @Test func cidv0MustBeDagPBWithSha256() throws {
        let sha = Multihash.sha256(of: [])
        #expect(throws: MultiformatError.invalidCIDv0) { try CID(version: .v0, codec: .raw, multihash: sha) }
        #expect(throws: MultiformatError.invalidCIDv0) {
            try CID(version: .v0, codec: .dagPB, multihash: .identity([1, 2]))
        }
        // An explicit version 0 prefix is not a CIDv0.
        #expect(throws: MultiformatError.invalidCIDv0) { try CID(bytes: [0x00, 0x70] + sha.bytes) }
        // CIDv0 has no multibase form.
        let v0 = try UnixFS.fileCID([], version: .v0)
        #expect(throws: MultiformatError.invalidCIDv0) { try CID(string: Multibase.encode(v0.bytes, as: .base32Lower)) }
        #expect(throws: MultiformatError.invalidCIDv0) { try CID(string: "z" + v0.description) }
        // 46 characters starting Qm that decode to something else.
        #expect(throws: MultiformatError.invalidCIDv0) { try CID(string: "Qm" + String(repeating: "1", count: 44)) }
    }

    @Test func cidRejectsOtherVersionsTrailingBytesAndTruncation() throws {
        let raw = CID.rawFile([1, 2, 3])
        #expect(throws: MultiformatError.emptyInput) { try CID(bytes: []) }
        #expect(throws: MultiformatError.emptyInput) { try CID(string: "") }
        #expect(throws: MultiformatError.unsupportedCIDVersion(2)) { try CID(bytes: [0x02] + Array(raw.bytes.dropFirst())) }
        #expect(throws: MultiformatError.trailingBytes(count: 1)) { try CID(bytes: raw.bytes + [0]) }
        #expect(throws: MultiformatError.truncated) { try CID(bytes: Array(raw.bytes.dropLast())) }
        #expect(throws: MultiformatError.varintTruncated) { try CID(bytes: [0x01]) }
        #expect(throws: MultiformatError.varintNotMinimal) { try CID(bytes: [0x81, 0x00, 0x55] + raw.multihash.bytes) }
        let v0 = try UnixFS.fileCID([], version: .v0)
        #expect(throws: MultiformatError.trailingBytes(count: 1)) { try CID(bytes: v0.bytes + [0]) }
        #expect(throws: MultiformatError.truncated) { try CID(bytes: Array(v0.bytes.dropLast())) }
    }

    @Test func cidTextRejectsUpperCaseBase32AndWrongAlphabets() throws {
        let text = CID.rawFile([]).description
        #expect(throws: MultiformatError.unsupportedMultibase(prefix: "B")) { try CID(string: text.uppercased()) }
        let mixed = "b" + text.dropFirst().prefix(5).uppercased() + text.dropFirst(6)
        #expect(throws: MultiformatError.invalidCharacter("A", base: "base32")) { try CID(string: mixed) }
        #expect(throws: MultiformatError.invalidCharacter(" ", base: "base32")) { try CID(string: text + " ") }
        #expect(throws: MultiformatError.unsupportedMultibase(prefix: " ")) { try CID(string: " " + text) }
        #expect(CID("not a cid") == nil)
    }

    @Test func fileCIDRefusesContentPastOneBlock() throws {
        let content = [UInt8](repeating: 0, count: UnixFS.maxSingleBlockFileSize + 1)
        #expect(throws: MultiformatError.inputTooLarge(limit: UnixFS.maxSingleBlockFileSize)) {
            try UnixFS.fileCID(content, version: .v0)
        }
    }

    @Test func unixFSReaderRejectsOtherNodesAndMalformedBlocks() {
        func expectMalformed(_ block: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(sourceLocation: sourceLocation) {
                try UnixFS.fileContent(ofSingleBlock: block)
            } throws: { error in
                guard case .malformedProtobuf = error as? MultiformatError else { return false }
                return true
            }
        }
        func expectUnsupported(_ block: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(sourceLocation: sourceLocation) {
                try UnixFS.fileContent(ofSingleBlock: block)
            } throws: { error in
                guard case .unsupportedUnixFS = error as? MultiformatError else { return false }
                return true
            }
        }
        expectUnsupported([])  // no Data
        expectUnsupported([0x12, 0x00])  // a link
        expectUnsupported([0x0a, 0x02, 0x08, 0x01])  // directory
        expectUnsupported([0x0a, 0x07, 0x08, 0x02, 0x12, 0x01, 0x41, 0x18, 0x05])  // filesize 5, 1 byte inline
        expectUnsupported([0x0a, 0x06, 0x08, 0x02, 0x18, 0x00, 0x20, 0x01])  // blocksizes
        expectMalformed([0x0a, 0x02, 0x12, 0x00])  // no Type
        expectMalformed([0x1a, 0x00])  // unknown dag-pb field
        expectMalformed([0x0a, 0x00, 0x0a, 0x00])  // Data twice
        expectMalformed([0x08, 0x00])  // Data with the wrong wire type
        expectMalformed([0x0a, 0x04, 0x18, 0x00, 0x08, 0x02])  // fields out of order
        expectMalformed([0x0a, 0x02, 0x00, 0x00])  // field number 0
        #expect(throws: MultiformatError.truncated) { try UnixFS.fileContent(ofSingleBlock: [0x0a, 0x05, 0x08]) }
        #expect(throws: MultiformatError.truncated) { try UnixFS.fileContent(ofSingleBlock: [0x0a]) }
        #expect(throws: MultiformatError.inputTooLarge(limit: UnixFS.maxBlockSize)) {
            try UnixFS.fileContent(ofSingleBlock: [UInt8](repeating: 0, count: UnixFS.maxBlockSize + 1))
        }
    }

    @Test func everyErrorHasAOneLineDescription() {
        let errors: [MultiformatError] = [
            .varintTruncated, .varintOverflow, .varintNotMinimal, .emptyInput,
            .unsupportedMultibase(prefix: "B"), .invalidCharacter("0", base: "base58btc"),
            .invalidBaseEncoding(base: "base32"), .unknownMultihash(code: 0x13),
            .digestLengthMismatch(expected: 32, actual: 1), .identityDigestTooLong(length: 200, limit: 128),
            .trailingBytes(count: 1), .truncated, .unknownCodec(code: 0x71), .unsupportedCIDVersion(2),
            .invalidCIDv0, .inputTooLarge(limit: 4096), .malformedProtobuf(reason: "x"),
            .unsupportedUnixFS(reason: "y"),
        ]
        for error in errors {
            #expect(!error.description.isEmpty)
            #expect(!error.description.contains("\n"))
        }
    }
}

// MARK: - No-crash fuzzing

@Suite struct MultiformatFuzzTests {
    /// Parses binary CID bytes: either a CID that re-encodes to exactly these bytes, or a
    /// MultiformatError (typed throws makes any other error impossible).
    static func checkBinary(_ bytes: [UInt8]) {
        do {
            let cid = try CID(bytes: bytes)
            #expect(cid.bytes == bytes, "\(hexString(bytes))")
        } catch {
            _ = error.description
        }
    }

    /// Parses CID text: either a CID whose text form in the same base is exactly the input, or
    /// a MultiformatError.
    static func checkText(_ text: String) {
        do {
            let cid = try CID(string: text)
            switch cid.version {
            case .v0:
                #expect(cid.description == text)
            case .v1:
                let base = text.first.flatMap(Multibase.init(rawValue:))
                #expect(base.map { cid.string(in: $0) } == text, "\(text)")
            }
        } catch {
            _ = error.description
        }
    }

    static func mutations(of bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for length in 0..<bytes.count {
            out.append(Array(bytes.prefix(length)))  // truncated
            var dropped = bytes
            dropped.remove(at: length)  // one byte removed
            out.append(dropped)
        }
        for index in bytes.indices {
            for bit in 0..<8 {
                var flipped = bytes
                flipped[index] ^= 1 << bit
                out.append(flipped)
            }
        }
        return out
    }

    @Test func truncatedAndBitFlippedVectorCIDsNeverCrash() throws {
        let texts = try allVectorCIDs()
        var variants = 0
        for text in texts {
            let cid = try CID(string: text)
            for mutated in Self.mutations(of: cid.bytes) {
                Self.checkBinary(mutated)
                variants += 1
            }
            for mutated in Self.mutations(of: Array(text.utf8)) {
                Self.checkText(String(decoding: mutated, as: UTF8.self))
                variants += 1
            }
            // Every base the CID can be written in.
            if cid.version == .v1 {
                for base in Multibase.allCases {
                    for mutated in Self.mutations(of: Array(cid.string(in: base).utf8)) {
                        Self.checkText(String(decoding: mutated, as: UTF8.self))
                        variants += 1
                    }
                }
            }
        }
        #expect(variants > 10_000)
    }

    @Test func randomBytesFedToEveryBinaryParserNeverCrash() throws {
        var rng = SplitMix64(seed: 42)
        let seeds = try allVectorCIDs().map { try CID(string: $0).bytes }
        for round in 0..<4000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = rng.bytes(count: Int.random(in: 0...64, using: &rng))
            } else {
                // Mostly valid prefixes with random tails reach deeper into the parsers.
                let seed = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                bytes = Array(seed.prefix(Int.random(in: 0...seed.count, using: &rng)))
                bytes += rng.bytes(count: Int.random(in: 0...8, using: &rng))
            }
            Self.checkBinary(bytes)
            if let multihash = try? Multihash(bytes: bytes) {
                #expect(multihash.bytes == bytes)
            }
            var offset = Int.random(in: -1...bytes.count + 1, using: &rng)
            let start = offset
            if (try? Varint.decode(bytes, offset: &offset)) == nil {
                #expect(offset == start)
            }
            if let content = try? UnixFS.fileContent(ofSingleBlock: bytes) {
                #expect(content.count <= bytes.count)
            }
            for block in [[0x0a] + Varint.encode(UInt64(bytes.count)) + bytes, UnixFS.singleBlockFile(bytes)] {
                _ = try? UnixFS.fileContent(ofSingleBlock: block)
            }
        }
    }

    @Test func randomStringsFedToEveryTextParserNeverCrash() throws {
        var rng = SplitMix64(seed: 99)
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ=+/ -_é\u{301}\u{0}Qmbzk")
        let seeds = try allVectorCIDs()
        for round in 0..<4000 {
            var text: String
            if round % 2 == 0 {
                text = String((0..<Int.random(in: 0...60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            } else {
                let seed = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                text = String(seed.prefix(Int.random(in: 0...seed.count, using: &rng)))
                text += String((0..<Int.random(in: 0...4, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            }
            Self.checkText(text)
            if let decoded = try? Multibase.decode(text) {
                #expect(Multibase.encode(decoded.bytes, as: decoded.base) == text)
            }
            let body = String(text.dropFirst())
            if let bytes = try? Base58.decode(body) { #expect(Base58.encode(bytes) == body) }
            if let bytes = try? Base32.decode(body) { #expect(Base32.encode(bytes) == body) }
            if let bytes = try? Base36.decode(body) { #expect(Base36.encode(bytes) == body) }
        }
    }
}
