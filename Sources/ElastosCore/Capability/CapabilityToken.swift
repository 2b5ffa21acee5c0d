// Capability token format v1 (docs/TOKENS.md is the normative description).
//
//   token   = version:u8 (=1) ‖ count:u8 (1…8) ‖ link × count          (root first, leaf last)
//   link    = body ‖ signature:64
//   body    = id:16 ‖ issuer:32 (Ed25519 key) ‖ holder:u16-len ‖ resource:u16-len ‖ actions:u8
//             ‖ epoch:u64 ‖ maxClassification:u8 ‖ depth:u8 ‖ issuedAt:u64 ‖ flags:u8
//             ‖ [notBefore:u64] ‖ [expiry:u64] ‖ [maxUses:u32] ‖ [parent:32]   (present per flags)
//   signed  = "elastos.capability-token.v1" ‖ 0x00 ‖ version ‖ body
//
// Big-endian integers; times are Unix seconds. Every field is signed; variable fields are length
// prefixed; the option flags say which optional fields follow; decoding rejects unknown flag bits,
// non-canonical resources, trailing bytes and anything over the size limits, so each token has
// exactly one encoding. `parent` is SHA-256 of the parent link's full bytes (version ‖ body ‖
// signature), which pins a delegated link to one exact parent.

import Crypto

/// Why bytes are not a well-formed capability token. Decoding failures are denied and audited
/// before the twelve checks run (check 1, the version, is the first thing decoding looks at).
public enum TokenDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLarge(Int)
    case notTokenText
    case invalidTextEncoding
    case unsupportedVersion(UInt8)
    case badChainLength(Int)
    case truncated
    case trailingBytes(Int)
    case invalidHolder
    case invalidResource(ResourceError)
    case nonCanonicalResource
    case invalidActions(UInt8)
    case invalidClassification(UInt8)
    case invalidDepth(UInt8)
    case unknownFlags(UInt8)
    case zeroMaxUses
    case rootHasParent
    case delegatedLinkWithoutParent
    case invalidIssuerKey

    public static let maxEncodedSize = 16 * 1024
    public static let maxTextSize = 24 * 1024

    public var description: String {
        switch self {
        case .empty: "capability token is empty"
        case .tooLarge(let n): "capability token is \(n) bytes, over the \(Self.maxEncodedSize)-byte limit"
        case .notTokenText: "not a capability token (text form starts with '\(CapabilityToken.textPrefix)')"
        case .invalidTextEncoding: "capability token text is not valid base58"
        case .unsupportedVersion(let v): "capability token format version \(v) is not supported (this runtime reads version 1)"
        case .badChainLength(let n): "capability token has \(n) links; 1 to \(CapabilityToken.maxChainLength) are allowed"
        case .truncated: "capability token is truncated"
        case .trailingBytes(let n): "capability token has \(n) unexpected bytes after its end"
        case .invalidHolder: "capability token holder must be 1–256 printable ASCII characters"
        case .invalidResource(let e): "capability token resource is invalid: \(e)"
        case .nonCanonicalResource: "capability token resource is not in canonical form"
        case .invalidActions(let m): "capability token action mask 0x\(String(m, radix: 16)) is empty or has unknown bits"
        case .invalidClassification(let c): "capability token classification \(c) is unknown (0–3)"
        case .invalidDepth(let d): "capability token delegation depth \(d) exceeds \(CapabilityToken.maxChainLength - 1)"
        case .unknownFlags(let f): "capability token has unknown option flags 0x\(String(f, radix: 16))"
        case .zeroMaxUses: "capability token max uses must be at least 1 when present"
        case .rootHasParent: "capability token root link names a parent"
        case .delegatedLinkWithoutParent: "capability token delegated link does not name its parent"
        case .invalidIssuerKey: "capability token issuer is not a valid Ed25519 key"
        }
    }
}

/// One signed link of a capability token: the root, issued by the runtime, or a delegation.
/// Immutable; a class so the checks can walk a chain without copying every field.
public final class TokenLink: Sendable, Hashable {
    public let id: TokenID
    public let issuer: PublicKey
    /// The principal this link is for: a capsule instance id or a `did:key`.
    public let holder: String
    public let resource: ResourcePattern
    public let actions: ActionSet
    /// Tokens whose epoch is below the runtime's current epoch are revoked en masse (check 7).
    public let epoch: UInt64
    public let maxClassification: Classification
    /// How many further delegations this link allows; 0 means it may not be delegated.
    public let delegationDepth: UInt8
    public let issuedAt: UInt64
    public let notBefore: UInt64?
    public let expiry: UInt64?
    public let maxUses: UInt32?
    /// SHA-256 of the parent link (nil for the root).
    public let parent: [UInt8]?
    public let signature: [UInt8]
    /// `version ‖ body`: what the signature covers (after the domain tag).
    let signedBody: [UInt8]

    /// SHA-256 of `version ‖ body ‖ signature`: what a child link's `parent` names.
    public let digest: [UInt8]

    /// The holder as a `did:key`, if it is one (only such holders can sign delegations).
    public var holderDID: DIDKey? { holder.hasPrefix("did:key:") ? try? DIDKey(holder) : nil }

    static func isValidHolder(_ holder: String) -> Bool {
        let u = holder.utf8
        return (1...256).contains(u.count) && u.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// The unsigned content of a link, for the issuer to sign.
    struct Body {
        var id: TokenID
        var issuer: PublicKey
        var holder: String
        var resource: ResourcePattern
        var actions: ActionSet
        var epoch: UInt64
        var maxClassification: Classification
        var delegationDepth: UInt8
        var issuedAt: UInt64
        var notBefore: UInt64?
        var expiry: UInt64?
        var maxUses: UInt32?
        var parent: [UInt8]?

        func encoded() -> [UInt8] {
            var w = ByteWriter(capacity: 160 + holder.utf8.count + resource.text.utf8.count)
            w.u8(CapabilityToken.version)
            w.raw(id.bytes)
            w.raw(issuer.bytes)
            w.lengthPrefixed(Array(holder.utf8))
            w.lengthPrefixed(Array(resource.text.utf8))
            w.u8(actions.mask)
            w.u64(epoch)
            w.u8(maxClassification.rawValue)
            w.u8(delegationDepth)
            w.u64(issuedAt)
            var flags: UInt8 = 0
            if notBefore != nil { flags |= 1 }
            if expiry != nil { flags |= 2 }
            if maxUses != nil { flags |= 4 }
            if parent != nil { flags |= 8 }
            w.u8(flags)
            if let notBefore { w.u64(notBefore) }
            if let expiry { w.u64(expiry) }
            if let maxUses { w.u32(maxUses) }
            if let parent { w.raw(parent) }
            return w.bytes
        }

        func signed(by key: SigningKey) -> TokenLink {
            let body = encoded()
            let sig = key.sign(body, in: .capabilityToken)
            return TokenLink(body: self, signedBody: body, signature: sig)
        }
    }

    init(body b: Body, signedBody: [UInt8], signature: [UInt8]) {
        id = b.id; issuer = b.issuer; holder = b.holder; resource = b.resource; actions = b.actions
        epoch = b.epoch; maxClassification = b.maxClassification; delegationDepth = b.delegationDepth
        issuedAt = b.issuedAt; notBefore = b.notBefore; expiry = b.expiry; maxUses = b.maxUses
        parent = b.parent
        self.signedBody = signedBody
        self.signature = signature
        self.digest = Array(SHA256.hash(data: signedBody + signature))
    }

    /// Verifies this link's signature against its own issuer key (whether that issuer is the
    /// right one is a separate check).
    public var hasValidSignature: Bool {
        issuer.isValidSignature(signature, for: signedBody, in: .capabilityToken)
    }

    public static func == (a: TokenLink, b: TokenLink) -> Bool {
        a.signedBody == b.signedBody && a.signature == b.signature
    }
    public func hash(into h: inout Hasher) { h.combine(signedBody); h.combine(signature) }
}

/// A capability token: a chain of links from the runtime's root grant to the presented leaf.
public struct CapabilityToken: Sendable, Hashable, CustomStringConvertible {
    public static let version: UInt8 = 1
    public static let maxChainLength = 8
    public static let textPrefix = "ecap1_"

    /// Root first, the presented (leaf) link last. Never empty.
    public let links: [TokenLink]
    /// The exact wire bytes.
    public let encoded: [UInt8]

    public var leaf: TokenLink { links[links.count - 1] }
    public var root: TokenLink { links[0] }
    public var id: TokenID { leaf.id }

    init(links: [TokenLink]) {
        self.links = links
        var w = ByteWriter(capacity: 512)
        w.u8(Self.version)
        w.u8(UInt8(links.count))
        for l in links {
            w.raw(Array(l.signedBody.dropFirst()))  // the version byte is shared by the chain
            w.raw(l.signature)
        }
        encoded = w.bytes
    }

    /// Copy-pasteable text: `ecap1_` and the base58btc wire bytes.
    public var text: String { Self.textPrefix + Base58.encode(encoded) }
    public var description: String { text }

    /// Parses the text form (`ecap1_…`), tolerating surrounding whitespace.
    public init(text raw: String) throws(TokenDecodingError) {
        let text = raw.trimmingCharacters(in: " ").trimmingCharacters(in: "\n")
        guard !text.isEmpty else { throw .empty }
        guard text.utf8.count <= TokenDecodingError.maxTextSize else { throw .tooLarge(text.utf8.count) }
        guard text.hasPrefix(Self.textPrefix) else { throw .notTokenText }
        let bytes: [UInt8]
        do { bytes = try Base58.decode(String(text.dropFirst(Self.textPrefix.count)), maxLength: TokenDecodingError.maxTextSize) } catch {
            throw .invalidTextEncoding
        }
        try self.init(encoded: bytes)
    }

    /// Decodes wire bytes, strictly: one encoding per token, no trailing bytes.
    public init(encoded bytes: [UInt8]) throws(TokenDecodingError) {
        guard !bytes.isEmpty else { throw .empty }
        guard bytes.count <= TokenDecodingError.maxEncodedSize else { throw .tooLarge(bytes.count) }
        guard bytes[0] == Self.version else { throw .unsupportedVersion(bytes[0]) }
        var r = ByteReader(bytes, offset: 1)
        do {
            let count = Int(try r.u8())
            guard (1...Self.maxChainLength).contains(count) else { throw TokenDecodingError.badChainLength(count) }
            var links: [TokenLink] = []
            links.reserveCapacity(count)
            for index in 0..<count {
                let link = try Self.decodeLink(&r)
                if index == 0, link.parent != nil { throw TokenDecodingError.rootHasParent }
                if index > 0, link.parent == nil { throw TokenDecodingError.delegatedLinkWithoutParent }
                links.append(link)
            }
            guard r.isAtEnd else { throw TokenDecodingError.trailingBytes(r.remaining) }
            self.links = links
            self.encoded = bytes
        } catch let e as TokenDecodingError {
            throw e
        } catch {
            throw .truncated
        }
    }

    private static func decodeLink(_ r: inout ByteReader) throws -> TokenLink {
        let start = r.offset
        let id = TokenID(unchecked: try r.take(16))
        guard let issuer = try? PublicKey(bytes: try r.take(32)) else { throw TokenDecodingError.invalidIssuerKey }
        let holderBytes = try r.take(Int(try r.u16()))
        let holder = String(decoding: holderBytes, as: UTF8.self)
        guard isValidHolderBytes(holderBytes) else { throw TokenDecodingError.invalidHolder }
        let resourceBytes = try r.take(Int(try r.u16()))
        let resourceText = String(decoding: resourceBytes, as: UTF8.self)
        let resource: ResourcePattern
        do { resource = try ResourcePattern(resourceText) } catch { throw TokenDecodingError.invalidResource(error) }
        guard Array(resource.text.utf8) == resourceBytes else { throw TokenDecodingError.nonCanonicalResource }
        let mask = try r.u8()
        guard let actions = ActionSet(mask: mask) else { throw TokenDecodingError.invalidActions(mask) }
        let epoch = try r.u64()
        let classRaw = try r.u8()
        guard let classification = Classification(rawValue: classRaw) else { throw TokenDecodingError.invalidClassification(classRaw) }
        let depth = try r.u8()
        guard Int(depth) < maxChainLength else { throw TokenDecodingError.invalidDepth(depth) }
        let issuedAt = try r.u64()
        let flags = try r.u8()
        guard flags & ~0x0F == 0 else { throw TokenDecodingError.unknownFlags(flags) }
        let notBefore = flags & 1 != 0 ? try r.u64() : nil
        let expiry = flags & 2 != 0 ? try r.u64() : nil
        let maxUses = flags & 4 != 0 ? try r.u32() : nil
        if maxUses == 0 { throw TokenDecodingError.zeroMaxUses }
        let parent = flags & 8 != 0 ? try r.take(32) : nil
        let end = r.offset
        let signature = try r.take(64)
        let body = Body(
            id: id, issuer: issuer, holder: holder, resource: resource, actions: actions, epoch: epoch,
            maxClassification: classification, delegationDepth: depth, issuedAt: issuedAt,
            notBefore: notBefore, expiry: expiry, maxUses: maxUses, parent: parent)
        var signed = [version]
        signed.append(contentsOf: r.bytes[start..<end])
        return TokenLink(body: body, signedBody: signed, signature: signature)
    }

    private static func isValidHolderBytes(_ b: [UInt8]) -> Bool {
        (1...256).contains(b.count) && b.allSatisfy { (0x21...0x7E).contains($0) }
    }
}

typealias Body = TokenLink.Body
