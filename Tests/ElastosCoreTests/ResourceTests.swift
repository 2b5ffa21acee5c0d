import ElastosCore
import Testing

@Suite struct ResourceTests {
    @Test(arguments: [
        ("localhost://storage/apps/notes", "localhost://storage/apps/notes"),
        ("LocalHost://storage/apps/notes/", "localhost://storage/apps/notes"),
        ("localhost://storage//apps/./notes", "localhost://storage/apps/notes"),
        ("localhost://storage/apps/x/../notes", "localhost://storage/apps/notes"),
        ("localhost://storage/apps/%6Eotes", "localhost://storage/apps/notes"),
        ("localhost://storage/apps/a%2fb", "localhost://storage/apps/a%2Fb"),
        ("localhost://storage/apps/%2e%2e", "localhost://storage"),
        ("elastos://bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e", "elastos://bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
        ("elastos://QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", "elastos://QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
    ])
    func normalisesToCanonicalForm(raw: String, canonical: String) throws {
        #expect(try ResourceURI(raw).text == canonical)
    }

    @Test(arguments: [
        ("", ResourceError.empty),
        ("storage/apps", .missingScheme),
        ("1x://a", .invalidScheme),
        ("x:///a", .emptyAuthority),
        ("x://a/b?c=1", .queryOrFragment),
        ("x://a/b#frag", .queryOrFragment),
        ("x://a/b c", .forbiddenCharacter(position: 7)),
        ("x://a/b\\c", .forbiddenCharacter(position: 7)),
        ("x://a/\u{7}", .forbiddenCharacter(position: 6)),
        ("x://a/é", .forbiddenCharacter(position: 6)),
        ("x://a/%4", .badPercentEncoding(position: 6)),
        ("x://a/%zz", .badPercentEncoding(position: 6)),
        ("x://a/..", .escapesAuthority),
        ("x://a/b/../../c", .escapesAuthority),
        ("x://a/%2e%2E/c", .escapesAuthority),
        ("x://a/*", .misplacedWildcard),
        ("x://a/b*", .misplacedWildcard),
        ("x://..", .invalidAuthority),
    ])
    func rejectsMalformedURIs(raw: String, error: ResourceError) {
        #expect(throws: error) { try ResourceURI(raw) }
    }

    @Test func rejectsOverlongURIs() {
        #expect(throws: ResourceError.tooLong(2049)) { try ResourceURI("x://a/" + String(repeating: "b", count: 2043)) }
    }

    @Test func patternsMatchOnlyInsideTheirPrefix() throws {
        let p = try ResourcePattern("localhost://storage/apps/notes/*")
        #expect(p.text == "localhost://storage/apps/notes/*")
        #expect(p.matches(try ResourceURI("localhost://storage/apps/notes/a")))
        #expect(p.matches(try ResourceURI("localhost://storage/apps/notes/a/b/c")))
        #expect(!p.matches(try ResourceURI("localhost://storage/apps/notes")))
        #expect(!p.matches(try ResourceURI("localhost://storage/apps/notes2/a")))
        #expect(!p.matches(try ResourceURI("localhost://storage/apps/notes/../secrets")))
        let all = try ResourcePattern("elastos://*")
        #expect(all.matches(try ResourceURI("elastos://peer/x")))
        #expect(!all.matches(try ResourceURI("localhost://peer/x")))
        #expect(throws: ResourceError.misplacedWildcard) { try ResourcePattern("x://a/*/b") }
        #expect(throws: ResourceError.misplacedWildcard) { try ResourcePattern("x://*/b") }
    }

    @Test func subsetRelationBetweenPatterns() throws {
        func p(_ s: String) throws -> ResourcePattern { try ResourcePattern(s) }
        #expect(try p("x://a/b/*").isSubset(of: try p("x://a/*")))
        #expect(try p("x://a/*").isSubset(of: try p("x://a/*")))
        #expect(try p("x://a/b").isSubset(of: try p("x://a/*")))
        #expect(try p("x://a/b").isSubset(of: try p("x://*")))
        #expect(try !p("x://a/*").isSubset(of: try p("x://a/b/*")))
        #expect(try !p("x://a").isSubset(of: try p("x://a/*")))
        #expect(try !p("x://*").isSubset(of: try p("x://a/*")))
        #expect(try !p("y://a/b").isSubset(of: try p("x://*")))
        #expect(try !p("x://a/*").isSubset(of: try p("x://a")))
    }

    @Test func randomStringsNeverCrashTheParser() {
        let alphabet = Array("ab/.%2eE*:?#\\ x%zz\u{0}é") .map(String.init)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let s = "x://" + (0..<Int.random(in: 0..<24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
            if let u = try? ResourceURI(s) { #expect((try? ResourceURI(u.text))?.text == u.text) }  // canonical is a fixpoint
            _ = try? ResourcePattern(s)
        }
    }
}
