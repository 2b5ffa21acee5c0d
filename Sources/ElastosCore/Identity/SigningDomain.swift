/// Domain separation for every Ed25519 signature the runtime makes or checks.
///
/// A signature is always made over `tag ‖ 0x00 ‖ message`, never over the bare message. Tags are
/// fixed ASCII strings without NUL, so the encoding is prefix-free: a signature made for one
/// purpose (a capability token, an audit checkpoint, a capsule) can never verify for another.
public struct SigningDomain: Hashable, Sendable, CustomStringConvertible {
    /// The ASCII tag, e.g. `elastos.capability-token.v1`.
    public let tag: String
    let prefix: [UInt8]

    /// Creates a domain. The tag must be 1–64 printable ASCII characters (no NUL, no spaces).
    public init(_ tag: String) {
        let bytes = Array(tag.utf8)
        precondition(
            (1...64).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7E).contains($0) },
            "signing domain tags are fixed program constants of printable ASCII")
        self.tag = tag
        self.prefix = bytes + [0x00]
    }

    public var description: String { tag }

    /// The exact bytes that get signed for `message` in this domain.
    public func signedBytes(_ message: [UInt8]) -> [UInt8] {
        var out = prefix
        out.reserveCapacity(prefix.count + message.count)
        out.append(contentsOf: message)
        return out
    }

    /// Capability token links (`docs/TOKENS.md`).
    public static let capabilityToken = SigningDomain("elastos.capability-token.v1")
    /// Signed audit checkpoints (`docs/AUDIT.md`).
    public static let auditCheckpoint = SigningDomain("elastos.audit-checkpoint.v1")
    /// A publisher's signature over a capsule's directory CID (`docs/CAPSULES.md`).
    public static let capsule = SigningDomain("elastos.capsule.v1")
    /// Free-form operator signatures made with `elastos identity sign` (tests and tooling).
    public static let operatorMessage = SigningDomain("elastos.operator-message.v1")
}
