import ElastosCore
import ElastosPolicy
import Foundation
import Testing

/// The messages between the runtime and the shell capsule (docs/POLICY.md, "The shell capsule").
@Suite struct ShellWireTests {
    let request = PolicyRequest(
        subject: PolicySubject(capsule: "notes \"x\"", version: "1.0.0", cid: "bafy-notes", publisher: "did:key:z6Mk-test", trust: .trusted),
        role: "app", resource: try! ResourcePattern("localhost://storage/apps/other/*"), actions: ActionSet([.read, .write]),
        reason: "line\nbreak \u{1b}[2J", declared: [DeclaredCapability(resource: try! ResourcePattern("elastos://runtime/echo"),
                                                                       actions: ActionSet([.read]), reason: "echo")],
        allowDeclared: true, interactive: false)

    @Test func everyMessageRoundTrips() throws {
        #expect(try ShellWire.decodeRequest(ShellWire.encode(request)) == request)
        for answer: PromptAnswer? in [.once, .session, .always, .deny, nil] {
            let (r, a) = try ShellWire.decodeSettle(ShellWire.encodeSettle(request, answer: answer))
            #expect(r == request && a == answer)
        }
        for outcome: PolicyOutcome in [.grant(expiresIn: 300, maxUses: 1, basis: "once"), .grant(expiresIn: 3600, maxUses: nil, basis: "rule"),
                                       .deny(basis: "no \"rule\""), .prompt] {
            #expect(try ShellWire.decodeOutcome(ShellWire.encode(outcome)) == outcome)
        }
    }

    @Test func malformedMessagesAreTypedErrorsNamingTheField() {
        func error(_ text: String, _ decode: ([UInt8]) throws(ShellWire.Error) -> Void) -> String? {
            do throws(ShellWire.Error) { try decode(Array(text.utf8)); return nil } catch { return error.description }
        }
        let request = { (b: [UInt8]) throws(ShellWire.Error) in _ = try ShellWire.decodeRequest(b) }
        let outcome = { (b: [UInt8]) throws(ShellWire.Error) in _ = try ShellWire.decodeOutcome(b) }
        let settle = { (b: [UInt8]) throws(ShellWire.Error) in _ = try ShellWire.decodeSettle(b) }
        let good = String(decoding: ShellWire.encode(self.request), as: UTF8.self)
        #expect(error(good, request) == nil)
        #expect(error("{not json", request)?.hasPrefix("not valid JSON") == true)
        #expect(error(good.replacingOccurrences(of: "\"trust\":\"trusted\"", with: "\"trust\":\"root\""), request)?.contains("trust") == true)
        #expect(error(good.replacingOccurrences(of: "\"role\"", with: "\"rôle\""), request)?.contains("unknown field rôle") == true)
        #expect(error(good.replacingOccurrences(of: "[\"read\",\"write\"]", with: "[\"fly\"]"), request)?.contains("unknown action") == true)
        #expect(error(good.replacingOccurrences(of: "\"interactive\":false", with: "\"interactive\":0"), request)?.contains("interactive") == true)
        #expect(error(#"{"outcome":"grant","expires_in":0,"basis":"x"}"#, outcome)?.contains("expires_in") == true)
        #expect(error(#"{"outcome":"grant","expires_in":99999999999,"basis":"x"}"#, outcome)?.contains("expires_in") == true)
        #expect(error(#"{"outcome":"maybe"}"#, outcome)?.contains("grant, deny or prompt") == true)
        #expect(error(#"{"outcome":"prompt","extra":1}"#, outcome)?.contains("unknown field extra") == true)
        #expect(error(#"{"request":{},"answer":"yes"}"#, settle) != nil)
        #expect(error(String(repeating: " ", count: ShellWire.maxBody + 1), request)?.contains("limit") == true)
        // Random bytes and every truncation of a good message: an error or a value, never a trap.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? ShellWire.decodeRequest(bytes); _ = try? ShellWire.decodeSettle(bytes); _ = try? ShellWire.decodeOutcome(bytes)
        }
        let all = Array(good.utf8)
        for n in 0..<all.count { #expect((try? ShellWire.decodeRequest(Array(all[0..<n]))) == nil) }
    }
}
