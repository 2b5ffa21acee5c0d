import Foundation
import Testing

/// `elastos peer dht …` against `elastos peer listen --dht-server`, all Swift processes on loopback.
@Suite struct PeerDHTCLITests {
    /// Starts `peer listen --dht-server` and returns it with its first LISTEN address.
    func dhtServer(home: TempDir) throws -> (Process, Pipe, String) {
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: CLI.binary)
        listener.arguments = ["peer", "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--duration", "60", "--dht-server", "--home", home.path]
        let out = Pipe(), input = Pipe()
        listener.standardOutput = out
        listener.standardInput = input
        listener.standardError = FileHandle.nullDevice
        try listener.run()
        var line = ""
        while !line.hasSuffix("\n") {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            guard !byte.isEmpty else { break }
            line += String(decoding: byte, as: UTF8.self)
        }
        return (listener, input, line.hasPrefix("LISTEN ") ? String(line.dropFirst("LISTEN ".count).dropLast()) : "")
    }

    @Test func putThenGetASignedValueAndProvideThenFindProviders() throws {
        let serverHome = TempDir(), writerHome = TempDir(), readerHome = TempDir()
        let (server, input, address) = try dhtServer(home: serverHome)
        defer {
            input.fileHandleForWriting.closeFile()
            server.waitUntilExit()
        }
        try #require(address.hasPrefix("/ip4/127.0.0.1/tcp/"), "\(address)")
        let writer = CLI(home: writerHome.path), reader = CLI(home: readerHome.path)
        let writerID = try #require(try writer.run(["peer", "id"]).stdout.split(separator: "\n").first?.split(separator: " ").last.map(String.init))
        let key = "/elastos/\(writerID)/chat/inbox"

        let put = try writer.run(["peer", "dht", "put", "chat/inbox", "meet at noon", "--bootstrap", address])
        #expect(put.status == 0, "\(put.stderr)")
        #expect(put.stdout.hasPrefix("PUT \(key) seq=") && put.stdout.contains("stored-at=1"), "\(put.stdout)")
        let get = try reader.run(["peer", "dht", "get", key, "--bootstrap", address])
        #expect(get.status == 0, "\(get.stderr)")
        #expect(get.stdout.hasPrefix("VALUE \(key) seq=") && get.stdout.hasSuffix(" meet at noon\n"), "\(get.stdout)")
        let missing = try reader.run(["peer", "dht", "get", "/elastos/\(writerID)/nothing", "--bootstrap", address])
        #expect(missing.status != 0 && missing.stderr.contains("no valid record"), "\(missing.stderr)")
        let foreign = try reader.run(["peer", "dht", "get", "/ipns/\(writerID)", "--bootstrap", address])
        #expect(foreign.status != 0 && foreign.stderr.contains("outside the /elastos/ namespace"), "\(foreign.stderr)")

        let provide = try writer.run(["peer", "dht", "provide", "elastos-room-7", "--bootstrap", address])
        #expect(provide.status == 0 && provide.stdout == "PROVIDED elastos-room-7 1\n", "\(provide.stdout)\(provide.stderr)")
        let find = try reader.run(["peer", "dht", "find-providers", "elastos-room-7", "--bootstrap", address])
        #expect(find.status == 0 && find.stdout.contains("PROVIDER \(writerID)") && find.stdout.hasSuffix("PROVIDERS 1\n"), "\(find.stdout)\(find.stderr)")
        let none = try reader.run(["peer", "dht", "find-providers", "elastos-room-8", "--bootstrap", address])
        #expect(none.status != 0 && none.stderr.contains("no providers found"), "\(none.stderr)")
    }

    @Test func dhtCommandsNeedABootstrapPeerThatServesTheDHT() throws {
        let home = TempDir()
        let cli = CLI(home: home.path)
        let noBootstrap = try cli.run(["peer", "dht", "find-providers", "x"])
        #expect(noBootstrap.status != 0 && noBootstrap.stderr.contains("--bootstrap"), "\(noBootstrap.stderr)")
        let refused = try cli.run(["peer", "dht", "find-peer", "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB", "--bootstrap", "/ip4/127.0.0.1/tcp/9", "--timeout", "10"])
        #expect(refused.status != 0 && refused.stderr.contains("DHT bootstrap failed"), "\(refused.stderr)")
        let needsServer = try cli.run(["peer", "listen", "--provide", "x"])
        #expect(needsServer.status != 0 && needsServer.stderr.contains("need --dht-server"), "\(needsServer.stderr)")
    }
}
