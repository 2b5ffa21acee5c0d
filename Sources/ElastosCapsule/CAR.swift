// CARv1, the IPLD content-addressable archive.
// Spec: https://ipld.io/specs/transport/car/carv1/
//   car     = varint(len(header)) ‖ header ‖ section*
//   header  = DAG-CBOR {"roots": [CID, …], "version": 1}
//   section = varint(len(cid) + len(block)) ‖ cid ‖ block
// DAG-CBOR (https://ipld.io/specs/codecs/dag-cbor/spec/) sorts map keys by length, then bytes,
// so "roots" comes before "version"; a CID is tag 42 over a byte string holding 0x00 (the
// identity multibase prefix) and the binary CID. The header here is small and fixed, so it is
// written by hand and read back only in exactly that form.
//
// The reader is strict: the header must be the canonical encoding of 1 or 2 roots, every
// section's CID must be a CIDv1 (dag-pb or raw, sha2-256) and its block must hash to it, and the
// file must end exactly after the last section.

import ElastosCore

enum CARv1 {
    static let maxHeaderSize = 1024

    /// One section.
    struct Section {
        let cid: CID
        let bytes: [UInt8]
    }

    static func encode(roots: [CID], sections: [Section]) -> [UInt8] {
        var out: [UInt8] = []
        let header = encodeHeader(roots)
        out.append(contentsOf: Varint.encode(UInt64(header.count)))
        out.append(contentsOf: header)
        for section in sections {
            let cid = section.cid.bytes
            out.append(contentsOf: Varint.encode(UInt64(cid.count + section.bytes.count)))
            out.append(contentsOf: cid)
            out.append(contentsOf: section.bytes)
        }
        return out
    }

    static func encodeHeader(_ roots: [CID]) -> [UInt8] {
        var out: [UInt8] = [0xA2]                             // map(2)
        out.append(0x65); out.append(contentsOf: "roots".utf8)  // text(5)
        out.append(0x80 | UInt8(roots.count))                 // array(n), n ≤ 23
        for root in roots {
            let cid = [0x00] + root.bytes
            out.append(contentsOf: [0xD8, 0x2A])              // tag(42)
            out.append(0x58); out.append(UInt8(cid.count))    // bytes(n), 24 ≤ n ≤ 255
            out.append(contentsOf: cid)
        }
        out.append(0x67); out.append(contentsOf: "version".utf8)  // text(7)
        out.append(0x01)                                       // 1
        return out
    }

    /// Reads a whole CAR, checking every block against its CID.
    static func decode(_ bytes: [UInt8], limits: CapsuleLimits) throws(CapsuleError) -> (roots: [CID], sections: [Section]) {
        guard bytes.count <= limits.maxPackageSize else {
            throw .packageTooLarge(size: bytes.count, limit: limits.maxPackageSize)
        }
        var offset = 0
        let headerLength: UInt64
        do { headerLength = try Varint.decode(bytes, offset: &offset) } catch {
            throw .malformedPackage(bytes.isEmpty ? "the file is empty" : "the header length is not a varint (\(error))")
        }
        guard headerLength > 0, headerLength <= UInt64(maxHeaderSize) else {
            throw .malformedPackage("the header length \(headerLength) is out of range")
        }
        guard headerLength <= UInt64(bytes.count - offset) else { throw .malformedPackage("the file ends inside the header") }
        let header = Array(bytes[offset..<(offset + Int(headerLength))])
        offset += Int(headerLength)
        let roots = try decodeHeader(header)

        var sections: [Section] = []
        while offset < bytes.count {
            let index = sections.count
            guard index < limits.maxBlocks else { throw .tooManyBlocks(limit: limits.maxBlocks) }
            let length: UInt64
            do { length = try Varint.decode(bytes, offset: &offset) } catch {
                throw .malformedPackage("section \(index): the length is not a varint (\(error))")
            }
            guard length <= UInt64(bytes.count - offset) else {
                throw .malformedPackage("section \(index) runs past the end of the file (truncated, or trailing bytes)")
            }
            let end = offset + Int(length)
            let section = Array(bytes[offset..<end])
            offset = end
            let (cid, cidLength) = try sectionCID(section, index: index)
            let blockSize = section.count - cidLength
            guard blockSize <= limits.maxBlockSize else {
                throw .blockTooLarge(index: index, size: blockSize, limit: limits.maxBlockSize)
            }
            let block = Array(section[cidLength...])
            guard Multihash.sha256(of: block) == cid.multihash else { throw .blockHashMismatch(index: index, cid: cid) }
            sections.append(Section(cid: cid, bytes: block))
        }
        return (roots, sections)
    }

    private static func decodeHeader(_ header: [UInt8]) throws(CapsuleError) -> [CID] {
        let bad = CapsuleError.malformedPackage("the header is not the canonical DAG-CBOR {\"roots\":[…],\"version\":1}")
        // map(2), "roots", array(n)
        let prefix: [UInt8] = [0xA2, 0x65] + Array("roots".utf8)
        guard header.count > prefix.count + 1, Array(header[0..<prefix.count]) == prefix else { throw bad }
        let count = Int(header[prefix.count]) - 0x80
        guard (1...2).contains(count) else {
            throw .malformedPackage("the header names \(max(count, 0)) roots; a capsule package has 1 (unsigned) or 2 (signed)")
        }
        var offset = prefix.count + 1
        var roots: [CID] = []
        for _ in 0..<count {
            guard offset + 5 <= header.count, header[offset] == 0xD8, header[offset + 1] == 0x2A, header[offset + 2] == 0x58 else {
                throw bad
            }
            let length = Int(header[offset + 3])
            guard length >= 2, header[offset + 4] == 0x00, offset + 4 + length <= header.count else { throw bad }
            let cidBytes = Array(header[(offset + 5)..<(offset + 4 + length)])
            do { roots.append(try CID(bytes: cidBytes)) } catch { throw .malformedPackage("a root is not a CID: \(error)") }
            offset += 4 + length
        }
        // Anything else (other keys, another version, another encoding) fails this comparison.
        guard header == encodeHeader(roots) else { throw bad }
        return roots
    }

    /// The CIDv1 at the start of a section and its length.
    private static func sectionCID(_ section: [UInt8], index: Int) throws(CapsuleError) -> (CID, Int) {
        var offset = 0
        do {
            let version = try Varint.decode(section, offset: &offset)
            guard version == 1 else {
                throw CapsuleError.nonCanonicalPackage("section \(index): the CID must be a CIDv1")
            }
            let codec = Multicodec(rawValue: try Varint.decode(section, offset: &offset))
            guard codec == .dagPB || codec == .raw else {
                throw CapsuleError.malformedPackage("section \(index): codec \(codec) is not dag-pb or raw")
            }
            let multihash = try Multihash.decode(section, offset: &offset)
            guard multihash.code == .sha2_256 else {
                throw CapsuleError.malformedPackage("section \(index): the CID's hash must be sha2-256")
            }
            return (try CID(version: .v1, codec: codec, multihash: multihash), offset)
        } catch let error as CapsuleError {
            throw error
        } catch {
            throw .malformedPackage("section \(index): not a CID (\(error))")
        }
    }
}
