public import ElastosCore
public import ElastosNode

/// Why a capsule directory, package, signature, store or trust list was refused. Each message
/// says what was wrong and, where there is one, what to do.
public enum CapsuleError: Error, Sendable, CustomStringConvertible {
    // Content
    case manifest(ManifestError)
    case io(FileError)
    case notADirectory(String)
    case missingManifest(String)
    case unsupportedFileType(path: String, kind: String)
    case invalidName(path: String, reason: String)
    case fileTooLarge(path: String, size: Int, limit: Int)
    case contentTooLarge(limit: Int)
    case tooManyEntries(limit: Int)
    case tooDeep(path: String, limit: Int)
    case changedWhileReading(path: String)
    case entrypointMissing(String)
    case unixfs(UnixFSImportError)

    // Package
    case packageTooLarge(size: Int, limit: Int)
    case malformedPackage(String)
    case blockTooLarge(index: Int, size: Int, limit: Int)
    case tooManyBlocks(limit: Int)
    case blockHashMismatch(index: Int, cid: CID)
    case duplicateBlock(CID)
    case missingBlock(CID)
    case unexpectedBlock(CID)
    case malformedDAG(String)
    case rootMismatch(stated: CID, computed: CID)
    case nonCanonicalPackage(String)

    // Signature
    case notSigned(String)
    case malformedSignature(String)
    case signatureForOtherCapsule(signed: CID, content: CID)
    case invalidSignature(publisher: DIDKey)
    case unexpectedPublisher(expected: DIDKey, actual: DIDKey)

    // Store and trust
    case storeCorrupt(path: String, reason: String)
    case notInstalled(String)
    case ambiguous(name: String, cids: [CID])
    case nameTaken(name: String, publisher: DIDKey, installed: CID)
    case trustListCorrupt(path: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .manifest(let e): return e.description
        case .io(let e): return e.description
        case .notADirectory(let p): return "\(p) is not a directory"
        case .missingManifest(let p): return "\(p) has no \(CapsuleManifest.fileName) at its root: every capsule needs one (see docs/CAPSULES.md)"
        case .unsupportedFileType(let p, let kind):
            return "\(p) is \(kind): a capsule holds only regular files and directories (copy the target in instead)"
        case .invalidName(let p, let reason): return "\(p): \(reason)"
        case .fileTooLarge(let p, let size, let limit): return "\(p) is \(size) bytes; a capsule file may be at most \(limit)"
        case .contentTooLarge(let limit): return "the capsule's files add up to more than \(limit) bytes"
        case .tooManyEntries(let limit): return "the capsule has more than \(limit) files and directories"
        case .tooDeep(let p, let limit): return "\(p) is nested more than \(limit) directories deep"
        case .changedWhileReading(let p): return "\(p) changed while it was being read; pack again when nothing is writing to it"
        case .entrypointMissing(let e):
            return "capsule.json: entrypoint: \(StrictJSON.quote(e)) is not a regular file in the capsule"
        case .unixfs(let e): return e.description

        case .packageTooLarge(let size, let limit): return "the package is \(size) bytes; the limit is \(limit)"
        case .malformedPackage(let reason): return "not a capsule package (CARv1): \(reason)"
        case .blockTooLarge(let i, let size, let limit): return "package block \(i) is \(size) bytes; the limit is \(limit)"
        case .tooManyBlocks(let limit): return "the package has more than \(limit) blocks"
        case .blockHashMismatch(let i, let cid):
            return "package block \(i) does not match its CID \(cid): the package is damaged or was tampered with"
        case .duplicateBlock(let cid): return "block \(cid) appears twice in the package"
        case .missingBlock(let cid): return "block \(cid) is missing from the package: it is incomplete or was tampered with"
        case .unexpectedBlock(let cid): return "block \(cid) is in the package but not part of the capsule"
        case .malformedDAG(let reason): return "the capsule's DAG is malformed: \(reason)"
        case .rootMismatch(let stated, let computed):
            return "the package claims to be \(stated) but its content is \(computed): refused"
        case .nonCanonicalPackage(let reason): return "the package is not in canonical form: \(reason)"

        case .notSigned(let what):
            return "\(what) is not signed: sign it with 'elastos capsule sign', or install a directory with --dev to sign it with this node's key"
        case .malformedSignature(let reason): return "the signature envelope is malformed: \(reason)"
        case .signatureForOtherCapsule(let signed, let content):
            return "the signature is for \(signed), but the content is \(content): refused"
        case .invalidSignature(let publisher):
            return "the signature does not verify against the claimed publisher \(publisher): refused"
        case .unexpectedPublisher(let expected, let actual):
            return "signed by \(actual), not by the expected publisher \(expected): refused"

        case .storeCorrupt(let p, let reason): return "capsule store \(p) is damaged: \(reason)"
        case .notInstalled(let what): return "no installed capsule is named or has the CID '\(what)' (see 'elastos capsule list')"
        case .ambiguous(let name, let cids):
            return "'\(name)' matches \(cids.count) installed capsules; give the CID: " + cids.map(\.description).joined(separator: ", ")
        case .nameTaken(let name, let publisher, let installed):
            return "a capsule named '\(name)' from another publisher (\(publisher)) is installed as \(installed); remove it first"
        case .trustListCorrupt(let p, let line, let reason):
            return "\(p):\(line): \(reason) (each line is a did:key, a '#' comment or empty)"
        }
    }
}
