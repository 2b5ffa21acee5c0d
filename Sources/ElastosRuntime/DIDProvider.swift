public import ElastosCore
import DIDWire
import Foundation

/// `elastos://did/…`: this node's DID document, did:key resolution, and signatures by the node's
/// identity key for capsules that hold the capability — the private key never leaves the
/// runtime. Resources (docs/DID.md):
///
///   read    elastos://did/self            → this node's DID document (JSON)
///   read    elastos://did/resolve         body: a did:key → its DID document
///   execute elastos://did/self/sign       body: message → 64-byte Ed25519 signature
///   read    elastos://did/verify          body: {"did","capsule","message","signature"} (base64) → {"valid":bool},
///                                         or DIDWire's binary DIDVerifyRequest → one byte, 1 valid / 0 not
///   read    elastos://did/seal            body: DIDSealRequest {recipient did:key, aad, plaintext ≤ 64 KiB}
///                                         → the sealed bytes (anyone may seal to any did:key)
///   execute elastos://did/self/open       body: DIDOpenRequest {aad, sealed} → the plaintext of a seal
///                                         to this node's DID; integrity_failed if it does not open
///
/// Signatures are made in their own domain over the requesting capsule's name and the message,
/// so a capsule can never obtain a signature that reads as a capability token, a capsule
/// signature or another capsule's statement. Seals are HPKE (RFC 9180, base mode,
/// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, info "elastos.did.seal.v1")
/// to the X25519 key the did:key derives (ElastosCore's DIDSeal); opening uses the node's
/// derived X25519 key, which, like the signing key, never leaves the runtime.
public struct DIDProvider: Provider {
    public static let signingDomain = SigningDomain("elastos.did.capsule-signature.v1")
    public static let maxMessage = 64 << 10
    let key: SigningKey

    public init(key: SigningKey) { self.key = key }
    public var name: String { "did" }

    public func classification(of resource: ResourceURI) -> Classification { .public }

    public func handle(_ call: ProviderCall) -> ProviderResult {
        let path = call.resource.segments
        switch (call.action, path) {
        case (.read, ["self"]):
            return .ok(Array(key.publicKey.did.document.utf8))
        case (.read, ["resolve"]):
            let text = String(decoding: call.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            do { return .ok(Array(try DIDKey(text).document.utf8)) } catch {
                return .failed(code: .providerFailed, message: "cannot resolve '\(text.prefix(120))': \(error)")
            }
        case (.execute, ["self", "sign"]):
            guard call.body.count <= Self.maxMessage else {
                return .failed(code: .providerFailed, message: "a message to sign may be at most \(Self.maxMessage) bytes")
            }
            return .ok(key.sign(Self.statement(capsule: call.session.capsule, message: call.body), in: Self.signingDomain))
        case (.read, ["verify"]):
            return verify(call.body)
        case (.read, ["seal"]):
            return seal(call.body)
        case (.execute, ["self", "open"]):
            return open(call.body)
        default:
            return .failed(code: .noProvider, message: "elastos://did has no \(call.action) on \(call.resource.text) (see docs/DID.md)")
        }
    }

    /// What is signed for `capsule`: its name, length-prefixed, then the message.
    public static func statement(capsule: String, message: [UInt8]) -> [UInt8] {
        let name = Array(capsule.utf8)
        return [UInt8(name.count >> 8), UInt8(name.count & 0xFF)] + name + message
    }

    private func verify(_ body: [UInt8]) -> ProviderResult {
        if body.first == DIDWire.version { return verifyBinary(body) }
        guard let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let didText = o["did"] as? String, let capsule = o["capsule"] as? String,
              let message = (o["message"] as? String).flatMap({ Data(base64Encoded: $0) }),
              let signature = (o["signature"] as? String).flatMap({ Data(base64Encoded: $0) })
        else {
            return .failed(code: .providerFailed, message: "verify takes {\"did\",\"capsule\",\"message\",\"signature\"} with base64 message and signature")
        }
        let did: DIDKey
        do { did = try DIDKey(didText) } catch { return .failed(code: .providerFailed, message: "\(error)") }
        let valid = did.publicKey.isValidSignature(Array(signature), for: Self.statement(capsule: capsule, message: Array(message)),
                                                   in: Self.signingDomain)
        return .ok(Array("{\"valid\":\(valid)}".utf8))
    }

    /// The binary form, for guests without JSON: same statement, same domain.
    private func verifyBinary(_ body: [UInt8]) -> ProviderResult {
        let request: DIDVerifyRequest
        do { request = try DIDVerifyRequest(decoding: body) } catch {
            return .failed(code: .invalidRequest, message: error.description)
        }
        let did: DIDKey
        do { did = try DIDKey(request.did) } catch { return .failed(code: .invalidRequest, message: "\(error)") }
        let valid = did.publicKey.isValidSignature(request.signature, for: Self.statement(capsule: request.capsule, message: request.message),
                                                   in: Self.signingDomain)
        return .ok([valid ? 1 : 0])
    }

    /// Seals to any did:key: needs nothing of this node's but the code.
    private func seal(_ body: [UInt8]) -> ProviderResult {
        let request: DIDSealRequest
        do { request = try DIDSealRequest(decoding: body) } catch {
            return .failed(code: .invalidRequest, message: error.description)
        }
        let did: DIDKey
        do { did = try DIDKey(request.recipient) } catch { return .failed(code: .invalidRequest, message: "\(error)") }
        do { return .ok(try DIDSeal.seal(request.plaintext, to: did.publicKey, aad: request.aad)) } catch {
            return .failed(code: .invalidRequest, message: error.description)
        }
    }

    /// Opens a seal to this node's DID. Why it did not open (wrong recipient, wrong AAD, altered
    /// bytes) is not told apart: it is not knowable, and guessing would help only an attacker.
    private func open(_ body: [UInt8]) -> ProviderResult {
        let request: DIDOpenRequest
        do { request = try DIDOpenRequest(decoding: body) } catch {
            return .failed(code: .invalidRequest, message: error.description)
        }
        do { return .ok(try DIDSeal.open(request.sealed, with: key, aad: request.aad)) } catch {
            return .failed(code: .integrityFailed, message: "the sealed message does not open with this node's key")
        }
    }
}
