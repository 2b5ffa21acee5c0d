import CarrierWire
import ElastosCore
import Testing
@testable import ElastosCarrier

func fromHex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        out.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return out
}

/// Vectors produced by py-libp2p 0.8.1's rpc_pb2 and its Ed25519 signer, with the shared
/// identity (seed 00 01 … 1f, PeerID 12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB):
/// a signed message (topic "elastos/test", data "hello gossip", seqno 1, key included) inside an
/// RPC with one subscription, and an RPC with one of each control message.
enum PyLibp2pPubsubVectors {
    static let signedRPC = fromHex(
        "0a100801120c656c6173746f732f7465737412b6010a2600240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
            + "120c68656c6c6f20676f737369701a080000000000000001220c656c6173746f732f746573742a40deadbb3579fb9d91251aef5ed080789d81d68e5e"
            + "255c38b40e5c935d0da9dcd0b7de726eb1578fde570493f1e4da415e7fbd4235f16260138494c2df6f8e760632240801122003a107bff3ce10be1d70"
            + "dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
    static let controlRPC = fromHex("1a210a070a01741202616212040a0263641a030a0167220b0a017012040a027879183c")
    static let seed = (0..<32).map(UInt8.init)
}

@Suite struct PubsubWireTests {
    /// Found by the fuzzer: an empty control message decoded as present, but is not written back.
    @Test func anEmptyControlMessageRoundTripsAsNone() throws {
        let rpc = try PubsubRPC(decoding: [0x1a, 0x00])
        #expect(rpc.control == nil && rpc.isEmpty)
        #expect(try PubsubRPC(decoding: rpc.bytes) == rpc)
    }

    @Test func decodesPyLibp2pSignedRPCAndReencodesItByteForByte() throws {
        let rpc = try PubsubRPC(decoding: PyLibp2pPubsubVectors.signedRPC)
        #expect(rpc.subscriptions == [PubsubSubscription(subscribe: true, topic: "elastos/test")])
        let message = try #require(rpc.messages.first)
        #expect(message.topic == "elastos/test")
        #expect(message.data == Array("hello gossip".utf8))
        #expect(message.seqno == [0, 0, 0, 0, 0, 0, 0, 1])
        #expect(message.key?.count == 36)
        let author = try Libp2pPeerID(parsing: "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB")
        #expect(message.from == author.multihash.bytes)
        #expect(rpc.bytes == PyLibp2pPubsubVectors.signedRPC)
    }

    @Test func decodesPyLibp2pControlMessagesAndReencodesThem() throws {
        let rpc = try PubsubRPC(decoding: PyLibp2pPubsubVectors.controlRPC)
        let control = try #require(rpc.control)
        #expect(control.ihave == [PubsubIHave(topic: "t", messageIDs: [Array("ab".utf8)])])
        #expect(control.iwant == [Array("cd".utf8)])
        #expect(control.graft == ["g"])
        #expect(control.prune == [PubsubPrune(topic: "p", peers: [.init(peerID: Array("xy".utf8))], backoffSeconds: 60)])
        #expect(rpc.bytes == PyLibp2pPubsubVectors.controlRPC)
    }

    @Test func unknownFieldsAreSkippedAndControlFieldsMerge() throws {
        var w = ProtobufWriter()
        w.bytes(4, [1, 2, 3])  // py-libp2p's senderRecord
        var control = ProtobufWriter()
        control.bytes(5, [9])  // v1.2 IDONTWANT
        w.bytes(3, control.bytes)
        // Two more control fields, each with one GRAFT.
        let bytes = w.bytes + PubsubRPC(control: PubsubControl(graft: ["a"])).bytes + PubsubRPC(control: PubsubControl(graft: ["b"])).bytes
        let rpc = try PubsubRPC(decoding: bytes)
        #expect(rpc.control?.graft == ["a", "b"])
        #expect(rpc.subscriptions.isEmpty && rpc.messages.isEmpty)
    }

    @Test func malformedRPCsAreTypedErrors() {
        // A message without a topic.
        var message = ProtobufWriter()
        message.bytes(2, [1])
        var rpc = ProtobufWriter()
        rpc.bytes(2, message.bytes)
        #expect(throws: WireError.missingField("Message.topic")) { try PubsubRPC(decoding: rpc.bytes) }
        // A subscription whose topic is not UTF-8.
        #expect(throws: WireError.invalidUTF8("field 2")) { try PubsubRPC(decoding: [0x0a, 0x03, 0x12, 0x01, 0xff]) }
        // Over the 1 MiB limit.
        #expect(throws: WireError.frameTooLarge(length: PubsubRPC.maxLength + 1, limit: PubsubRPC.maxLength)) {
            try PubsubRPC(decoding: [UInt8](repeating: 0, count: PubsubRPC.maxLength + 1))
        }
        // Truncated.
        #expect(throws: WireError.self) { try PubsubRPC(decoding: Array(PyLibp2pPubsubVectors.signedRPC.dropLast())) }
    }

    @Test func everyPartRoundTrips() throws {
        let rpc = PubsubRPC(
            subscriptions: [.init(subscribe: true, topic: "x"), .init(subscribe: false, topic: "ü")],
            messages: [PubsubWireMessage(from: [1], data: [], seqno: [0, 1], topic: "x", signature: [2], key: [3]),
                       PubsubWireMessage(topic: "")],
            control: PubsubControl(ihave: [.init(topic: "x", messageIDs: [[1], []])], iwant: [[4, 5]], graft: ["x"],
                                   prune: [.init(topic: "x", peers: [.init(peerID: [7], signedPeerRecord: [8])], backoffSeconds: 0)]))
        #expect(try PubsubRPC(decoding: rpc.bytes) == rpc)
        var framed = rpc.framed
        #expect(try LengthPrefixed.take(from: &framed, limit: PubsubRPC.maxLength) == rpc.bytes)
    }

    @Test func randomBytesNeverTrapTheRPCDecoder() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...96, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if let rpc = try? PubsubRPC(decoding: bytes) { #expect((try? PubsubRPC(decoding: rpc.bytes)) == rpc) }
            _ = try? PubsubWireMessage(decoding: bytes)
        }
        // Mutations of a valid RPC reach deeper.
        for _ in 0..<20_000 {
            var bytes = PyLibp2pPubsubVectors.signedRPC
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if let rpc = try? PubsubRPC(decoding: bytes) {
                for message in rpc.messages { _ = try? PubsubSigning.verify(message) }
            }
        }
    }
}

@Suite struct PubsubSigningTests {
    @Test func ourSignatureMatchesPyLibp2psForTheSameMessage() async throws {
        let node = CarrierNode(identity: try SigningKey(seed: PyLibp2pPubsubVectors.seed))
        let ours = PubsubSigning.signedMessage(topic: "elastos/test", data: Array("hello gossip".utf8), seqno: 1, node: node)
        let theirs = try #require(try PubsubRPC(decoding: PyLibp2pPubsubVectors.signedRPC).messages.first)
        // Ed25519 is deterministic: the same bytes signed by the same key.
        #expect(ours == theirs)
        #expect(try PubsubSigning.verify(ours) == Libp2pPeerID(node.peerID))
        await node.stop()
    }

    @Test func verificationAcceptsMissingKeyButRejectsForgeries() throws {
        let valid = try #require(try PubsubRPC(decoding: PyLibp2pPubsubVectors.signedRPC).messages.first)
        let author = try Libp2pPeerID(parsing: "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB")
        #expect(try PubsubSigning.verify(valid) == author)
        var keyless = valid
        keyless.key = nil  // as go sends Ed25519-signed messages
        #expect(try PubsubSigning.verify(keyless) == author)

        var unsigned = valid
        unsigned.signature = nil
        #expect(throws: PubsubValidationError.unsigned) { try PubsubSigning.verify(unsigned) }
        var tampered = valid
        tampered.data = Array("hello gossiq".utf8)
        #expect(throws: PubsubValidationError.badSignature) { try PubsubSigning.verify(tampered) }
        var otherTopic = valid
        otherTopic.topic = "elastos/other"
        #expect(throws: PubsubValidationError.badSignature) { try PubsubSigning.verify(otherTopic) }
        var noSeqno = valid
        noSeqno.seqno = nil
        #expect(throws: PubsubValidationError.missingSeqno) { try PubsubSigning.verify(noSeqno) }
        var noFrom = valid
        noFrom.from = nil
        #expect(throws: PubsubValidationError.missingFrom) { try PubsubSigning.verify(noFrom) }
        // Someone else's key in `key`, or as the author.
        let impostor = PeerID(publicKey: SigningKey().publicKey)
        var wrongKey = valid
        wrongKey.key = impostor.publicKeyProtobuf
        #expect(throws: PubsubValidationError.keyDoesNotMatchFrom) { try PubsubSigning.verify(wrongKey) }
        var wrongFrom = keyless
        wrongFrom.from = impostor.multihash.bytes
        #expect(throws: PubsubValidationError.badSignature) { try PubsubSigning.verify(wrongFrom) }
        var garbageFrom = valid
        garbageFrom.from = [0xff, 0xff]
        #expect(throws: PubsubValidationError.invalidFrom) { try PubsubSigning.verify(garbageFrom) }
        // A hashed (RSA-style) PeerID without the key cannot be checked.
        var hashedFrom = keyless
        hashedFrom.from = Multihash.sha256(of: [1, 2, 3]).bytes
        #expect(throws: PubsubValidationError.unknownKey) { try PubsubSigning.verify(hashedFrom) }
    }
}
