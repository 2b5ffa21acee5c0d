// The pubsub RPC shared by floodsub and GossipSub v1.0/v1.1:
//   https://github.com/libp2p/specs/blob/master/pubsub/README.md (rpc.proto)
//   https://github.com/libp2p/specs/blob/master/pubsub/gossipsub/gossipsub-v1.0.md (control)
//   https://github.com/libp2p/specs/blob/master/pubsub/gossipsub/gossipsub-v1.1.md (PRUNE peers, backoff)
//
//   message RPC { repeated SubOpts subscriptions = 1; repeated Message publish = 2;
//                 optional ControlMessage control = 3;
//                 message SubOpts { optional bool subscribe = 1; optional string topicid = 2; } }
//   message Message { optional bytes from = 1; optional bytes data = 2; optional bytes seqno = 3;
//                     required string topic = 4; optional bytes signature = 5; optional bytes key = 6; }
//   message ControlMessage { repeated ControlIHave ihave = 1; repeated ControlIWant iwant = 2;
//                            repeated ControlGraft graft = 3; repeated ControlPrune prune = 4; }
//   message ControlIHave { optional string topicID = 1; repeated bytes messageIDs = 2; }
//   message ControlIWant { repeated bytes messageIDs = 1; }
//   message ControlGraft { optional string topicID = 1; }
//   message ControlPrune { optional string topicID = 1; repeated PeerInfo peers = 2; optional uint64 backoff = 3; }
//   message PeerInfo { optional bytes peerID = 1; optional bytes signedPeerRecord = 2; }
//
// On the stream each RPC is uvarint length-prefixed. Unknown fields (py-libp2p's `senderRecord = 4`,
// v1.2's IDONTWANT = 5) are skipped. py-libp2p writes the topic as `repeated string topicIDs = 4`,
// the same bytes as one `topic` when there is one; a message with several topics keeps the last,
// as a proto2 decoder does (and its signature then fails, which is right: we cannot re-encode it).

/// One pubsub message as it travels: signed by its author (`from`, `seqno`, `signature`, `key`).
public struct PubsubWireMessage: Equatable, Sendable {
    public var from: [UInt8]?
    public var data: [UInt8]?
    public var seqno: [UInt8]?
    public var topic: String
    public var signature: [UInt8]?
    public var key: [UInt8]?

    public init(from: [UInt8]? = nil, data: [UInt8]? = nil, seqno: [UInt8]? = nil, topic: String,
                signature: [UInt8]? = nil, key: [UInt8]? = nil) {
        self.from = from
        self.data = data
        self.seqno = seqno
        self.topic = topic
        self.signature = signature
        self.key = key
    }

    /// The prefix of every pubsub signature.
    public static let signaturePrefix = Array("libp2p-pubsub:".utf8)

    /// What the author signs: `"libp2p-pubsub:" ‖ protobuf(message without signature and key)`,
    /// fields in number order as go and py marshal them.
    public var signedBytes: [UInt8] {
        var copy = self
        copy.signature = nil
        copy.key = nil
        return Self.signaturePrefix + copy.bytes
    }

    /// The default message ID: `from ‖ seqno`.
    public var defaultID: [UInt8] { (from ?? []) + (seqno ?? []) }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        if let from { w.bytes(1, from) }
        if let data { w.bytes(2, data) }
        if let seqno { w.bytes(3, seqno) }
        w.string(4, topic)
        if let signature { w.bytes(5, signature) }
        if let key { w.bytes(6, key) }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        var topic: String?
        self.init(topic: "")
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1: from = try field.bytes()
            case 2: data = try field.bytes()
            case 3: seqno = try field.bytes()
            case 4: topic = try field.string()
            case 5: signature = try field.bytes()
            case 6: key = try field.bytes()
            default: continue
            }
        }
        guard let topic else { throw .missingField("Message.topic") }
        self.topic = topic
    }
}

/// A subscription change announced by a peer.
public struct PubsubSubscription: Equatable, Sendable {
    public var subscribe: Bool
    public var topic: String

    public init(subscribe: Bool, topic: String) {
        self.subscribe = subscribe
        self.topic = topic
    }
}

/// "I have these messages in `topic`" (gossip).
public struct PubsubIHave: Equatable, Sendable {
    public var topic: String
    public var messageIDs: [[UInt8]]
    public init(topic: String, messageIDs: [[UInt8]]) {
        self.topic = topic
        self.messageIDs = messageIDs
    }
}

/// A PRUNE: the sender dropped us from its mesh for `topic`; do not GRAFT again for `backoff` seconds.
public struct PubsubPrune: Equatable, Sendable {
    public var topic: String
    /// Peer exchange (v1.1): other peers of the topic, as binary PeerIDs (signed records kept raw).
    public var peers: [PeerRecord]
    public var backoffSeconds: UInt64?

    public struct PeerRecord: Equatable, Sendable {
        public var peerID: [UInt8]?
        public var signedPeerRecord: [UInt8]?
        public init(peerID: [UInt8]?, signedPeerRecord: [UInt8]? = nil) {
            self.peerID = peerID
            self.signedPeerRecord = signedPeerRecord
        }
    }

    public init(topic: String, peers: [PeerRecord] = [], backoffSeconds: UInt64? = nil) {
        self.topic = topic
        self.peers = peers
        self.backoffSeconds = backoffSeconds
    }
}

/// GossipSub's control messages, piggybacked on an RPC.
public struct PubsubControl: Equatable, Sendable {
    public var ihave: [PubsubIHave] = []
    public var iwant: [[UInt8]] = []
    public var graft: [String] = []
    public var prune: [PubsubPrune] = []

    public init(ihave: [PubsubIHave] = [], iwant: [[UInt8]] = [], graft: [String] = [], prune: [PubsubPrune] = []) {
        self.ihave = ihave
        self.iwant = iwant
        self.graft = graft
        self.prune = prune
    }

    public var isEmpty: Bool { ihave.isEmpty && iwant.isEmpty && graft.isEmpty && prune.isEmpty }
}

/// One pubsub RPC: subscription changes, messages and control, any of them possibly empty.
public struct PubsubRPC: Equatable, Sendable {
    /// Protocol IDs, best first.
    public static let gossipsubV11 = "/meshsub/1.1.0"
    public static let gossipsubV10 = "/meshsub/1.0.0"
    public static let floodsub = "/floodsub/1.0.0"
    /// The largest RPC we accept or send (go-libp2p-pubsub's default too).
    public static let maxLength = 1 << 20

    public var subscriptions: [PubsubSubscription]
    public var messages: [PubsubWireMessage]
    public var control: PubsubControl?

    public init(subscriptions: [PubsubSubscription] = [], messages: [PubsubWireMessage] = [], control: PubsubControl? = nil) {
        self.subscriptions = subscriptions
        self.messages = messages
        self.control = control
    }

    public var isEmpty: Bool { subscriptions.isEmpty && messages.isEmpty && (control?.isEmpty ?? true) }

    public var bytes: [UInt8] {
        var w = ProtobufWriter()
        for sub in subscriptions {
            var s = ProtobufWriter()
            s.varint(1, sub.subscribe ? 1 : 0)
            s.string(2, sub.topic)
            w.bytes(1, s.bytes)
        }
        for message in messages { w.bytes(2, message.bytes) }
        if let control, !control.isEmpty { w.bytes(3, Self.encode(control)) }
        return w.bytes
    }

    /// The RPC as it goes on a stream: `uvarint(length) ‖ protobuf`.
    public var framed: [UInt8] { LengthPrefixed.encode(bytes) }

    public init(decoding bytes: [UInt8]) throws(WireError) {
        guard bytes.count <= Self.maxLength else { throw .frameTooLarge(length: bytes.count, limit: Self.maxLength) }
        self.init()
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1:
                var subscribe = false
                var topic: String?
                for f in try ProtobufReader.fields(try field.bytes()) {
                    switch f.number {
                    case 1: subscribe = try f.varint() != 0
                    case 2: topic = try f.string()
                    default: continue
                    }
                }
                guard let topic else { throw .missingField("SubOpts.topicid") }
                subscriptions.append(PubsubSubscription(subscribe: subscribe, topic: topic))
            case 2:
                messages.append(try PubsubWireMessage(decoding: try field.bytes()))
            case 3:
                // Several control fields merge, as protobuf embedded messages do.
                let decoded = try Self.decodeControl(try field.bytes())
                var merged = control ?? PubsubControl()
                merged.ihave += decoded.ihave
                merged.iwant += decoded.iwant
                merged.graft += decoded.graft
                merged.prune += decoded.prune
                control = merged
            default: continue
            }
        }
        // An empty control message says nothing; it is not written back either (fuzzer: 1a 00).
        if control?.isEmpty == true { control = nil }
    }

    static func encode(_ control: PubsubControl) -> [UInt8] {
        var w = ProtobufWriter()
        for ihave in control.ihave {
            var m = ProtobufWriter()
            m.string(1, ihave.topic)
            for id in ihave.messageIDs { m.bytes(2, id) }
            w.bytes(1, m.bytes)
        }
        if !control.iwant.isEmpty {
            var m = ProtobufWriter()
            for id in control.iwant { m.bytes(1, id) }
            w.bytes(2, m.bytes)
        }
        for topic in control.graft {
            var m = ProtobufWriter()
            m.string(1, topic)
            w.bytes(3, m.bytes)
        }
        for prune in control.prune {
            var m = ProtobufWriter()
            m.string(1, prune.topic)
            for peer in prune.peers {
                var p = ProtobufWriter()
                if let id = peer.peerID { p.bytes(1, id) }
                if let record = peer.signedPeerRecord { p.bytes(2, record) }
                m.bytes(2, p.bytes)
            }
            if let backoff = prune.backoffSeconds { m.varint(3, backoff) }
            w.bytes(4, m.bytes)
        }
        return w.bytes
    }

    static func decodeControl(_ bytes: [UInt8]) throws(WireError) -> PubsubControl {
        var control = PubsubControl()
        for field in try ProtobufReader.fields(bytes) {
            switch field.number {
            case 1:
                var topic = ""
                var ids: [[UInt8]] = []
                for f in try ProtobufReader.fields(try field.bytes()) {
                    switch f.number {
                    case 1: topic = try f.string()
                    case 2: ids.append(try f.bytes())
                    default: continue
                    }
                }
                control.ihave.append(PubsubIHave(topic: topic, messageIDs: ids))
            case 2:
                for f in try ProtobufReader.fields(try field.bytes()) where f.number == 1 {
                    control.iwant.append(try f.bytes())
                }
            case 3:
                var topic: String?
                for f in try ProtobufReader.fields(try field.bytes()) where f.number == 1 { topic = try f.string() }
                guard let topic else { throw .missingField("ControlGraft.topicID") }
                control.graft.append(topic)
            case 4:
                var prune = PubsubPrune(topic: "")
                var topic: String?
                for f in try ProtobufReader.fields(try field.bytes()) {
                    switch f.number {
                    case 1: topic = try f.string()
                    case 2:
                        var record = PubsubPrune.PeerRecord(peerID: nil)
                        for p in try ProtobufReader.fields(try f.bytes()) {
                            switch p.number {
                            case 1: record.peerID = try p.bytes()
                            case 2: record.signedPeerRecord = try p.bytes()
                            default: continue
                            }
                        }
                        prune.peers.append(record)
                    case 3: prune.backoffSeconds = try f.varint()
                    default: continue
                    }
                }
                guard let topic else { throw .missingField("ControlPrune.topicID") }
                prune.topic = topic
                control.prune.append(prune)
            default: continue
            }
        }
        return control
    }
}
