import ArgumentParser
import CarrierWire
import ElastosCore

struct PeerIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id",
        abstract: "Print this node's libp2p PeerID and the addresses it would listen on.",
        discussion: """
            The PeerID is the identity multihash of the node key (12D3KooW…); the addresses are \
            --listen (default: \(PeerCommand.defaultListenAddrs.joined(separator: ", "))) with /p2p/<PeerID>, \
            ready to give to another peer.
            """
    )

    @OptionGroup var listen: ListenOptions
    @OptionGroup var home: HomeOption

    func run() throws {
        let key = try home.nodeKey()
        let peer = PeerID(publicKey: key.publicKey)
        print("PeerID: \(peer)")
        print("DID:    \(key.publicKey.did)")
        for address in try listen.addresses() { print("Listen: \(address.appending(peer: peer))") }
    }
}
