// The multistream-select 1.0 exchange as a state machine over bytes in memory, for both roles.
// Used for the security protocol on the raw TCP bytes, for the muxer inside Noise, and for each
// Yamux stream's protocol.

public struct MultistreamNegotiation: Sendable {
    public enum Role: Sendable {
        /// Proposes these protocols in order until the listener accepts one.
        case dialer(proposals: [String])
        /// Accepts the first proposal in `supported`; answers `na` to anything else.
        case listener(supported: [String])
    }

    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case wire(WireError)
        case missingHeader(got: String)
        case unexpectedResponse(proposed: String, got: String)
        case noProtocolAgreed(proposed: [String])
        case tooManyProposals

        public var description: String {
            switch self {
            case .wire(let e): e.description
            case .missingHeader(let got): "multistream-select: expected \(Multistream.header), got \"\(got.prefix(64))\""
            case .unexpectedResponse(let p, let got): "multistream-select: proposed \(p), peer answered \"\(got.prefix(64))\""
            case .noProtocolAgreed(let proposed): "multistream-select: the peer supports none of \(proposed.joined(separator: ", "))"
            case .tooManyProposals: "multistream-select: the peer proposed too many protocols"
            }
        }
    }

    public let role: Role
    private var sawHeader = false
    private var proposalIndex = 0
    private var refusals = 0
    public private(set) var selected: String?

    /// A listener answers at most this many proposals with `na` before giving up on the peer.
    static let maxRefusals = 32

    public init(role: Role) { self.role = role }

    /// What to send first: the header, and for a dialer its first proposal in the same write
    /// (the pipelining go-libp2p does; listeners accept both in one segment).
    public func initialOutput() -> [UInt8] {
        switch role {
        case .dialer(let proposals):
            return Multistream.encode(Multistream.header) + (proposals.first.map(Multistream.encode) ?? [])
        case .listener:
            return Multistream.encode(Multistream.header)
        }
    }

    /// Consumes complete messages from the front of `buffer` until a protocol is selected or the
    /// buffer runs out; returns the bytes to send. Leaves bytes after the final message in `buffer`.
    public mutating func receive(from buffer: inout [UInt8]) throws(Failure) -> [UInt8] {
        var output: [UInt8] = []
        while selected == nil {
            let message: String?
            do { message = try Multistream.take(from: &buffer) } catch { throw .wire(error) }
            guard let message else { break }
            if !sawHeader {
                guard message == Multistream.header else { throw .missingHeader(got: message) }
                sawHeader = true
                continue
            }
            switch role {
            case .dialer(let proposals):
                guard proposalIndex < proposals.count else { throw .noProtocolAgreed(proposed: proposals) }
                let proposal = proposals[proposalIndex]
                if message == proposal {
                    selected = proposal
                } else if message == Multistream.notAvailable {
                    proposalIndex += 1
                    guard proposalIndex < proposals.count else { throw .noProtocolAgreed(proposed: proposals) }
                    output += Multistream.encode(proposals[proposalIndex])
                } else {
                    throw .unexpectedResponse(proposed: proposal, got: message)
                }
            case .listener(let supported):
                if supported.contains(message) {
                    selected = message
                    output += Multistream.encode(message)
                } else {
                    refusals += 1
                    guard refusals <= Self.maxRefusals else { throw .tooManyProposals }
                    output += Multistream.encode(Multistream.notAvailable)
                }
            }
        }
        return output
    }
}
