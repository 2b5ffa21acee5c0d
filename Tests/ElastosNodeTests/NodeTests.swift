import ElastosCore
@testable import ElastosNode
import Foundation
import Testing

/// A fresh node home in a temporary directory, removed at the end.
final class TempHome {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "elastos-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    /// The node home itself does not exist yet, so the node creates it.
    var home: NodeHome { NodeHome(path: path + "/node") }
}

func mode(_ path: String) -> UInt16 {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? NSNumber)?.uint16Value ?? 0
}

@Suite struct NodeKeyTests {
    @Test func keyIsCreatedOnceWithMode0600AndReloadedUnchanged() throws {
        let t = TempHome()
        let (k1, created1) = try NodeKeyStore.loadOrCreate(in: t.home)
        #expect(created1)
        #expect(mode(t.home.keyFile) == 0o600)
        #expect(mode(t.home.path) == 0o700)
        let (k2, created2) = try NodeKeyStore.loadOrCreate(in: t.home)
        #expect(!created2)
        #expect(k1.publicKey == k2.publicKey)
        // No temp files are left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: t.home.identityDirectory) == ["node.key"])
    }

    @Test func corruptKeyStopsWithAClearErrorAndIsNotReplaced() throws {
        let t = TempHome()
        _ = try NodeKeyStore.loadOrCreate(in: t.home)
        var text = try String(contentsOfFile: t.home.keyFile, encoding: .utf8)
        // Change one seed digit: the recorded DID no longer matches.
        let i = text.index(text.range(of: "seed ")!.upperBound, offsetBy: 3)
        text.replaceSubrange(i...i, with: text[i] == "a" ? "b" : "a")
        try text.write(toFile: t.home.keyFile, atomically: false, encoding: .utf8)
        let damaged = try Data(contentsOf: URL(fileURLWithPath: t.home.keyFile))
        #expect(throws: NodeKeyError.corrupt(path: t.home.keyFile, reason: "the seed does not match the recorded DID")) {
            try NodeKeyStore.loadOrCreate(in: t.home)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: t.home.keyFile)) == damaged)

        for garbage in ["", "hello\n", "elastos-node-key v1\nseed zz\ndid x\n"] {
            try garbage.write(toFile: t.home.keyFile, atomically: false, encoding: .utf8)
            #expect(throws: NodeKeyError.self) { try NodeKeyStore.loadOrCreate(in: t.home) }
        }
    }

    @Test func keyReadableByOthersStops() throws {
        let t = TempHome()
        _ = try NodeKeyStore.loadOrCreate(in: t.home)
        chmod(t.home.keyFile, 0o644)
        #expect(throws: NodeKeyError.readableByOthers(path: t.home.keyFile, mode: 0o644)) { try NodeKeyStore.loadOrCreate(in: t.home) }
        chmod(t.home.keyFile, 0o640)
        #expect(throws: NodeKeyError.readableByOthers(path: t.home.keyFile, mode: 0o640)) { try NodeKeyStore.loadOrCreate(in: t.home) }
        chmod(t.home.keyFile, 0o600)
        #expect(throws: Never.self) { try NodeKeyStore.loadOrCreate(in: t.home) }
    }

    @Test func symlinkedKeyIsRefused() throws {
        let t = TempHome()
        try FileManager.default.createDirectory(atPath: t.home.identityDirectory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: t.home.keyFile, withDestinationPath: "/etc/hostname")
        #expect(throws: NodeKeyError.notAFile(path: t.home.keyFile)) { try NodeKeyStore.loadOrCreate(in: t.home) }
    }

    @Test func homeResolutionFollowsFlagThenEnvironmentThenXDG() {
        #expect(NodeHome.resolve(explicit: "/a", environment: ["ELASTOS_HOME": "/b"]).path == "/a")
        #expect(NodeHome.resolve(environment: ["ELASTOS_HOME": "/b", "XDG_DATA_HOME": "/x"]).path == "/b")
        #expect(NodeHome.resolve(environment: ["XDG_DATA_HOME": "/x", "HOME": "/h"]).path == "/x/elastos")
        #expect(NodeHome.resolve(environment: ["HOME": "/h"]).path == "/h/.local/share/elastos")
    }
}

@Suite struct LedgerPersistenceTests {
    @Test func revocationsEpochAndUseCountsSurviveReopening() throws {
        let t = TempHome()
        try t.home.prepare()
        let a = TokenID.random(), b = TokenID.random()
        do {
            let l = try PersistentLedger(path: t.home.ledgerFile, now: 100)
            try l.revoke(a, expiry: nil)
            #expect(try l.advanceEpoch() == 1)
            #expect(try l.advanceEpoch() == 2)
            #expect(try l.consume([UseDemand(id: b, maxUses: 3, expiry: nil)]))
            #expect(try l.consume([UseDemand(id: b, maxUses: 3, expiry: nil)]))
        }
        let l = try PersistentLedger(path: t.home.ledgerFile, now: 100)
        #expect(l.isRevoked(a))
        #expect(!l.isRevoked(b))
        #expect(l.epoch == 2)
        #expect(l.uses(of: b) == 2)
        #expect(try l.consume([UseDemand(id: b, maxUses: 3, expiry: nil)]))
        #expect(try !l.consume([UseDemand(id: b, maxUses: 3, expiry: nil)]))
        #expect(mode(t.home.ledgerFile) == 0o600)
    }

    @Test func tornLastLineIsDroppedButDamageElsewhereStops() throws {
        let t = TempHome()
        try t.home.prepare()
        let a = TokenID.random()
        do {
            let l = try PersistentLedger(path: t.home.ledgerFile, now: 0)
            try l.revoke(a, expiry: nil)
        }
        // A crash mid-append leaves a partial line: it is ignored, the rest survives.
        let h = FileHandle(forWritingAtPath: t.home.ledgerFile)!
        h.seekToEndOfFile(); h.write(Data("E 9 #12".utf8)); h.closeFile()
        do {
            let l = try PersistentLedger(path: t.home.ledgerFile, now: 0)
            #expect(l.isRevoked(a))
            #expect(l.epoch == 0)
        }
        // A damaged complete line is refused, naming the line.
        var text = try String(contentsOfFile: t.home.ledgerFile, encoding: .utf8)
        text = text.replacingOccurrences(of: "R ", with: "R 0")
        try text.write(toFile: t.home.ledgerFile, atomically: false, encoding: .utf8)
        #expect(throws: LedgerError.self) { try PersistentLedger(path: t.home.ledgerFile, now: 0) }
    }

    @Test func compactionDropsEntriesOfExpiredTokensOnly() throws {
        let t = TempHome()
        try t.home.prepare()
        let dead = TokenID.random(), live = TokenID.random(), forever = TokenID.random()
        do {
            let l = try PersistentLedger(path: t.home.ledgerFile, now: 0)
            try l.revoke(dead, expiry: 50)
            try l.revoke(live, expiry: 500)
            try l.revoke(forever, expiry: nil)
        }
        let l = try PersistentLedger(path: t.home.ledgerFile, now: 100, compactAbove: 0)
        #expect(!l.isRevoked(dead))  // it expired at 50: the check would deny it anyway
        #expect(l.isRevoked(live) && l.isRevoked(forever))
    }

    @Test func secondOpenOfTheSameHomeIsRefused() throws {
        let t = TempHome()
        try t.home.prepare()
        let first = try PersistentLedger(path: t.home.ledgerFile, now: 0)
        #expect(throws: LedgerError.self) { try PersistentLedger(path: t.home.ledgerFile, now: 0) }
        _ = first
    }

    @Test func useCountedTokenStaysSpentAcrossANodeRestart() throws {
        let t = TempHome()
        let req = CapabilityRequest(caller: "c", action: .read, resource: try ResourceURI("localhost://storage/apps/c/x"))
        let token: CapabilityToken
        do {
            let node = try Node(home: t.home)
            token = try node.issue(Grant(holder: "c", resource: try ResourcePattern("localhost://storage/apps/c/*"), actions: ActionSet([.read]), maxUses: 1))
            #expect((try? node.verifier.authorize(token.encoded, for: req).get()) != nil)
            try node.close()
        }
        let node = try Node(home: t.home)
        #expect(node.verifier.authorize(token.encoded, for: req).failureValue == .useLimitReached(max: 1))
        try node.close()
    }
}

extension Result {
    var failureValue: Failure? { if case .failure(let e) = self { e } else { nil } }
}
