import CarrierWire
import ElastosCore
import Testing
import _CryptoExtras
@testable import ElastosCarrier

@Suite struct IdentityKeyTests {
    @Test func anEd25519PeerIDIsTheCorePeerID() throws {
        let key = try SigningKey(seed: Array(0..<32))
        let peer = Libp2pPeerID(publicKeyProtobuf: Libp2pPublicKey.protobuf(for: key.publicKey))
        #expect(peer.description == "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB")
        #expect(peer == Libp2pPeerID(PeerID(publicKey: key.publicKey)))
        #expect(peer.ed25519 == PeerID(publicKey: key.publicKey))
        #expect(try Libp2pPeerID(parsing: "k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj260") == peer)
        #expect(throws: WireError.self) { try Libp2pPeerID(parsing: "not-a-peer") }
    }

    @Test func rsaKeysGetAHashedPeerIDAndTheirSignaturesAreChecked() throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let der = Array(rsa.publicKey.derRepresentation)
        var w = ProtobufWriter()
        w.varint(1, 0)
        w.bytes(2, der)
        let protobuf = w.bytes
        let key = try Libp2pIdentityKey(protobuf: protobuf)
        #expect(key == .rsa(der: der))
        let peer = Libp2pPeerID(publicKeyProtobuf: protobuf)
        #expect(peer.description.hasPrefix("Qm"))
        #expect(peer.multihash == Multihash.sha256(of: protobuf))
        #expect(peer.ed25519 == nil)
        let message = Array("noise-libp2p-static-key:".utf8) + [UInt8](repeating: 7, count: 32)
        var signature = Array(try rsa.signature(for: message, padding: .insecurePKCS1v1_5).rawRepresentation)
        #expect(key.isValidSignature(signature, for: message))
        signature[10] ^= 1
        #expect(!key.isValidSignature(signature, for: message))
        #expect(!Libp2pIdentityKey.rsa(der: [1, 2, 3]).isValidSignature(signature, for: message))
    }

    @Test func otherKeyTypesAreRefused() {
        #expect(throws: WireError.unsupportedKeyType(2)) { try Libp2pIdentityKey(protobuf: [0x08, 0x02, 0x12, 0x01, 0x00]) }
        #expect(throws: WireError.invalidKey("RSA key of 1 bytes")) { try Libp2pIdentityKey(protobuf: [0x08, 0x00, 0x12, 0x01, 0x00]) }
        #expect(throws: WireError.missingField("PublicKey.Data")) { try Libp2pIdentityKey(protobuf: [0x08, 0x01]) }
    }
}
